CREATE TABLE `oauth_assertion_jtis` (
	`key` text PRIMARY KEY NOT NULL,
	`expires_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `oauth_assertion_jtis_expires_at_idx` ON `oauth_assertion_jtis` (`expires_at`);--> statement-breakpoint
ALTER TABLE `oauth_clients` ADD `jwks` text;--> statement-breakpoint
ALTER TABLE `oauth_clients` ADD `jwks_uri` text;--> statement-breakpoint
-- ON DELETE cascade added by hand: drizzle-kit leaves it out of ALTER TABLE ... ADD ... REFERENCES,
-- and deleting a user must delete their API keys (src/platform/db/schema.ts).
ALTER TABLE `oauth_clients` ADD `owner_id` text REFERENCES users(id) ON DELETE cascade;