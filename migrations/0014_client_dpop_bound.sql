ALTER TABLE `oauth_clients` ADD `token_endpoint_auth_signing_alg` text;--> statement-breakpoint
ALTER TABLE `oauth_clients` ADD `dpop_bound_access_tokens` integer DEFAULT false NOT NULL;