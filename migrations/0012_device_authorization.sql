CREATE TABLE `oauth_device_codes` (
	`device_code_hash` text PRIMARY KEY NOT NULL,
	`user_code_hash` text NOT NULL,
	`client_id` text NOT NULL,
	`scope` text NOT NULL,
	`resource` text,
	`status` text NOT NULL,
	`user_id` text,
	`token_version` integer,
	`browser_session_id` text,
	`auth_time` integer,
	`amr` text,
	`poll_interval` integer NOT NULL,
	`polled_at` integer NOT NULL,
	`created_at` integer NOT NULL,
	`expires_at` integer NOT NULL,
	`used_at` integer,
	`grant_id` text,
	FOREIGN KEY (`client_id`) REFERENCES `oauth_clients`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `oauth_device_codes_user_code_hash_unique` ON `oauth_device_codes` (`user_code_hash`);--> statement-breakpoint
CREATE INDEX `oauth_device_codes_expires_at_idx` ON `oauth_device_codes` (`expires_at`);