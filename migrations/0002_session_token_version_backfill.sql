-- Sessions that existed before sessions.token_version: take the user's current version, so a
-- refresh keeps working for sessions that were live when this migration ran.
UPDATE `sessions` SET `token_version` = (SELECT `token_version` FROM `users` WHERE `users`.`id` = `sessions`.`user_id`);
