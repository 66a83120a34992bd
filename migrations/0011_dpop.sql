CREATE TABLE `dpop_proofs` (
	`key` text PRIMARY KEY NOT NULL,
	`claim` text NOT NULL,
	`expires_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `dpop_proofs_expires_at_idx` ON `dpop_proofs` (`expires_at`);--> statement-breakpoint
ALTER TABLE `oauth_codes` ADD `dpop_jkt` text;--> statement-breakpoint
ALTER TABLE `sessions` ADD `dpop_jkt` text;