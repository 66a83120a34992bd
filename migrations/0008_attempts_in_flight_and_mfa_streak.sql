CREATE TABLE `attempts_in_flight` (
	`id` text PRIMARY KEY NOT NULL,
	`key` text NOT NULL,
	`started_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `attempts_in_flight_key_started_at_idx` ON `attempts_in_flight` (`key`,`started_at`);--> statement-breakpoint
ALTER TABLE `mfa_totp` ADD `consecutive_failures` integer DEFAULT 0 NOT NULL;