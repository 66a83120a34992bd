CREATE TABLE `oauth_interactions` (
	`id_hash` text PRIMARY KEY NOT NULL,
	`kind` text NOT NULL,
	`browser_hash` text NOT NULL,
	`client_id` text,
	`params` text NOT NULL,
	`signed_in_session_id` text,
	`created_at` integer NOT NULL,
	`expires_at` integer NOT NULL,
	`used_at` integer,
	FOREIGN KEY (`client_id`) REFERENCES `oauth_clients`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `oauth_interactions_expires_at_idx` ON `oauth_interactions` (`expires_at`);