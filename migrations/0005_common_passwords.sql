CREATE TABLE `common_passwords` (
	`password` text PRIMARY KEY NOT NULL,
	CONSTRAINT "common_passwords_lower_case_check" CHECK("common_passwords"."password" = lower("common_passwords"."password"))
);
