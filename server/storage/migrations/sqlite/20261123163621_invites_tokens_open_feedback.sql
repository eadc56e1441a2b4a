-- Disable the enforcement of foreign-keys constraints
PRAGMA foreign_keys = off;
-- Create "new_auth_tokens" table
CREATE TABLE `new_auth_tokens` (`id` integer NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `token_hash` blob NOT NULL, `label` text NOT NULL DEFAULT (''), `scopes` json NOT NULL, `last_used_at` datetime NULL, `expires_at` datetime NULL, `revoked_at` datetime NULL, `user_id` integer NULL, `participant_id` integer NULL, PRIMARY KEY (`id`), CONSTRAINT `auth_tokens_users_user` FOREIGN KEY (`user_id`) REFERENCES `users` (`id`) ON DELETE SET NULL, CONSTRAINT `auth_tokens_participants_participant` FOREIGN KEY (`participant_id`) REFERENCES `participants` (`id`) ON DELETE SET NULL);
-- Copy rows from old table "auth_tokens" to new temporary table "new_auth_tokens"
INSERT INTO `new_auth_tokens` (`id`, `created_at`, `updated_at`, `token_hash`, `scopes`, `last_used_at`, `expires_at`, `revoked_at`, `user_id`, `participant_id`) SELECT `id`, `created_at`, `updated_at`, `token_hash`, `scopes`, `last_used_at`, `expires_at`, `revoked_at`, `user_id`, `participant_id` FROM `auth_tokens`;
-- Drop "auth_tokens" table after copying rows
DROP TABLE `auth_tokens`;
-- Rename temporary table "new_auth_tokens" to "auth_tokens"
ALTER TABLE `new_auth_tokens` RENAME TO `auth_tokens`;
-- Create index "auth_tokens_token_hash_key" to table: "auth_tokens"
CREATE UNIQUE INDEX `auth_tokens_token_hash_key` ON `auth_tokens` (`token_hash`);
-- Create index "authtoken_user_id" to table: "auth_tokens"
CREATE INDEX `authtoken_user_id` ON `auth_tokens` (`user_id`);
-- Create index "authtoken_participant_id" to table: "auth_tokens"
CREATE INDEX `authtoken_participant_id` ON `auth_tokens` (`participant_id`);
-- Create "new_prototypes" table
CREATE TABLE `new_prototypes` (`id` integer NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `title` text NOT NULL, `slug` text NOT NULL, `problem` text NOT NULL DEFAULT (''), `mission_link` text NOT NULL DEFAULT (''), `status` text NOT NULL DEFAULT ('DRAFT'), `open_feedback` bool NOT NULL DEFAULT (false), `tags` json NOT NULL, `owner_id` integer NOT NULL, `workspace_id` integer NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `prototypes_users_owner` FOREIGN KEY (`owner_id`) REFERENCES `users` (`id`) ON DELETE NO ACTION, CONSTRAINT `prototypes_workspaces_prototypes` FOREIGN KEY (`workspace_id`) REFERENCES `workspaces` (`id`) ON DELETE NO ACTION);
-- Copy rows from old table "prototypes" to new temporary table "new_prototypes"
INSERT INTO `new_prototypes` (`id`, `created_at`, `updated_at`, `title`, `slug`, `problem`, `mission_link`, `status`, `tags`, `owner_id`, `workspace_id`) SELECT `id`, `created_at`, `updated_at`, `title`, `slug`, `problem`, `mission_link`, `status`, `tags`, `owner_id`, `workspace_id` FROM `prototypes`;
-- Drop "prototypes" table after copying rows
DROP TABLE `prototypes`;
-- Rename temporary table "new_prototypes" to "prototypes"
ALTER TABLE `new_prototypes` RENAME TO `prototypes`;
-- Create index "prototype_workspace_id_slug" to table: "prototypes"
CREATE UNIQUE INDEX `prototype_workspace_id_slug` ON `prototypes` (`workspace_id`, `slug`);
-- Create index "prototype_workspace_id_created_at" to table: "prototypes"
CREATE INDEX `prototype_workspace_id_created_at` ON `prototypes` (`workspace_id`, `created_at`);
-- Create index "prototype_owner_id" to table: "prototypes"
CREATE INDEX `prototype_owner_id` ON `prototypes` (`owner_id`);
-- Enable back the enforcement of foreign-keys constraints
PRAGMA foreign_keys = on;
