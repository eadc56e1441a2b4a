-- Disable the enforcement of foreign-keys constraints
PRAGMA foreign_keys = off;
-- Create "new_comments" table
CREATE TABLE `new_comments` (`id` integer NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `body` text NOT NULL, `workspace_id` integer NOT NULL, `author_id` integer NOT NULL, `prototype_id` integer NOT NULL, `parent_id` integer NULL, `feedback_id` integer NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `comments_workspaces_workspace` FOREIGN KEY (`workspace_id`) REFERENCES `workspaces` (`id`) ON DELETE NO ACTION, CONSTRAINT `comments_participants_author` FOREIGN KEY (`author_id`) REFERENCES `participants` (`id`) ON DELETE NO ACTION, CONSTRAINT `comments_prototypes_prototype` FOREIGN KEY (`prototype_id`) REFERENCES `prototypes` (`id`) ON DELETE CASCADE, CONSTRAINT `comments_comments_replies` FOREIGN KEY (`parent_id`) REFERENCES `comments` (`id`) ON DELETE SET NULL, CONSTRAINT `comments_feedbacks_comments` FOREIGN KEY (`feedback_id`) REFERENCES `feedbacks` (`id`) ON DELETE NO ACTION);
-- Copy rows from old table "comments" to new temporary table "new_comments"
INSERT INTO `new_comments` (`id`, `created_at`, `updated_at`, `body`, `workspace_id`, `author_id`, `prototype_id`, `parent_id`, `feedback_id`) SELECT `id`, `created_at`, `updated_at`, `body`, `workspace_id`, `author_id`, `prototype_id`, `parent_id`, `feedback_id` FROM `comments`;
-- Drop "comments" table after copying rows
DROP TABLE `comments`;
-- Rename temporary table "new_comments" to "comments"
ALTER TABLE `new_comments` RENAME TO `comments`;
-- Create index "comment_workspace_id" to table: "comments"
CREATE INDEX `comment_workspace_id` ON `comments` (`workspace_id`);
-- Create index "comment_feedback_id_created_at" to table: "comments"
CREATE INDEX `comment_feedback_id_created_at` ON `comments` (`feedback_id`, `created_at`);
-- Create index "comment_author_id" to table: "comments"
CREATE INDEX `comment_author_id` ON `comments` (`author_id`);
-- Create index "comment_parent_id" to table: "comments"
CREATE INDEX `comment_parent_id` ON `comments` (`parent_id`);
-- Create index "comment_prototype_id" to table: "comments"
CREATE INDEX `comment_prototype_id` ON `comments` (`prototype_id`);
-- Create "new_events" table
CREATE TABLE `new_events` (`id` integer NOT NULL, `seq` integer NOT NULL, `kind` text NOT NULL, `subject_id` integer NOT NULL, `occurred_at` datetime NOT NULL, `payload` json NULL, `workspace_id` integer NOT NULL, `actor_user_id` integer NULL, `actor_participant_id` integer NULL, `prototype_id` integer NULL, PRIMARY KEY (`id`), CONSTRAINT `events_workspaces_workspace` FOREIGN KEY (`workspace_id`) REFERENCES `workspaces` (`id`) ON DELETE NO ACTION, CONSTRAINT `events_users_actor_user` FOREIGN KEY (`actor_user_id`) REFERENCES `users` (`id`) ON DELETE SET NULL, CONSTRAINT `events_participants_actor_participant` FOREIGN KEY (`actor_participant_id`) REFERENCES `participants` (`id`) ON DELETE SET NULL, CONSTRAINT `events_prototypes_timeline` FOREIGN KEY (`prototype_id`) REFERENCES `prototypes` (`id`) ON DELETE CASCADE);
-- Copy rows from old table "events" to new temporary table "new_events"
INSERT INTO `new_events` (`id`, `seq`, `kind`, `subject_id`, `occurred_at`, `payload`, `workspace_id`, `actor_user_id`, `actor_participant_id`, `prototype_id`) SELECT `id`, `seq`, `kind`, `subject_id`, `occurred_at`, `payload`, `workspace_id`, `actor_user_id`, `actor_participant_id`, `prototype_id` FROM `events`;
-- Drop "events" table after copying rows
DROP TABLE `events`;
-- Rename temporary table "new_events" to "events"
ALTER TABLE `new_events` RENAME TO `events`;
-- Create index "events_seq_key" to table: "events"
CREATE UNIQUE INDEX `events_seq_key` ON `events` (`seq`);
-- Create index "event_workspace_id" to table: "events"
CREATE INDEX `event_workspace_id` ON `events` (`workspace_id`);
-- Create index "event_prototype_id_seq" to table: "events"
CREATE INDEX `event_prototype_id_seq` ON `events` (`prototype_id`, `seq`);
-- Create index "event_workspace_id_seq" to table: "events"
CREATE INDEX `event_workspace_id_seq` ON `events` (`workspace_id`, `seq`);
-- Create index "event_actor_user_id" to table: "events"
CREATE INDEX `event_actor_user_id` ON `events` (`actor_user_id`);
-- Create index "event_actor_participant_id" to table: "events"
CREATE INDEX `event_actor_participant_id` ON `events` (`actor_participant_id`);
-- Create "new_feedbacks" table
CREATE TABLE `new_feedbacks` (`id` integer NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `kind` text NOT NULL, `body` text NOT NULL, `rating` integer NULL, `minutes_saved_per_day` integer NULL, `status` text NOT NULL DEFAULT ('OPEN'), `vote_count` integer NOT NULL DEFAULT (0), `idempotency_key` text NULL, `workspace_id` integer NOT NULL, `author_id` integer NOT NULL, `trial_id` integer NULL, `iteration_id` integer NOT NULL, `addressed_in_id` integer NULL, `prototype_id` integer NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `feedbacks_workspaces_workspace` FOREIGN KEY (`workspace_id`) REFERENCES `workspaces` (`id`) ON DELETE NO ACTION, CONSTRAINT `feedbacks_participants_author` FOREIGN KEY (`author_id`) REFERENCES `participants` (`id`) ON DELETE NO ACTION, CONSTRAINT `feedbacks_trials_trial` FOREIGN KEY (`trial_id`) REFERENCES `trials` (`id`) ON DELETE SET NULL, CONSTRAINT `feedbacks_iterations_feedback` FOREIGN KEY (`iteration_id`) REFERENCES `iterations` (`id`) ON DELETE NO ACTION, CONSTRAINT `feedbacks_iterations_addresses` FOREIGN KEY (`addressed_in_id`) REFERENCES `iterations` (`id`) ON DELETE SET NULL, CONSTRAINT `feedbacks_prototypes_feedback` FOREIGN KEY (`prototype_id`) REFERENCES `prototypes` (`id`) ON DELETE CASCADE);
-- Copy rows from old table "feedbacks" to new temporary table "new_feedbacks"
INSERT INTO `new_feedbacks` (`id`, `created_at`, `updated_at`, `kind`, `body`, `rating`, `minutes_saved_per_day`, `status`, `vote_count`, `idempotency_key`, `workspace_id`, `author_id`, `trial_id`, `iteration_id`, `addressed_in_id`, `prototype_id`) SELECT `id`, `created_at`, `updated_at`, `kind`, `body`, `rating`, `minutes_saved_per_day`, `status`, `vote_count`, `idempotency_key`, `workspace_id`, `author_id`, `trial_id`, `iteration_id`, `addressed_in_id`, `prototype_id` FROM `feedbacks`;
-- Drop "feedbacks" table after copying rows
DROP TABLE `feedbacks`;
-- Rename temporary table "new_feedbacks" to "feedbacks"
ALTER TABLE `new_feedbacks` RENAME TO `feedbacks`;
-- Create index "feedback_workspace_id" to table: "feedbacks"
CREATE INDEX `feedback_workspace_id` ON `feedbacks` (`workspace_id`);
-- Create index "feedback_iteration_id_created_at" to table: "feedbacks"
CREATE INDEX `feedback_iteration_id_created_at` ON `feedbacks` (`iteration_id`, `created_at`);
-- Create index "feedback_prototype_id_created_at" to table: "feedbacks"
CREATE INDEX `feedback_prototype_id_created_at` ON `feedbacks` (`prototype_id`, `created_at`);
-- Create index "feedback_prototype_id_status" to table: "feedbacks"
CREATE INDEX `feedback_prototype_id_status` ON `feedbacks` (`prototype_id`, `status`);
-- Create index "feedback_prototype_id_vote_count" to table: "feedbacks"
CREATE INDEX `feedback_prototype_id_vote_count` ON `feedbacks` (`prototype_id`, `vote_count`);
-- Create index "feedback_author_id_idempotency_key" to table: "feedbacks"
CREATE UNIQUE INDEX `feedback_author_id_idempotency_key` ON `feedbacks` (`author_id`, `idempotency_key`);
-- Create index "feedback_trial_id" to table: "feedbacks"
CREATE INDEX `feedback_trial_id` ON `feedbacks` (`trial_id`);
-- Create index "feedback_addressed_in_id" to table: "feedbacks"
CREATE INDEX `feedback_addressed_in_id` ON `feedbacks` (`addressed_in_id`);
-- Create "new_invites" table
CREATE TABLE `new_invites` (`id` integer NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `role` text NOT NULL DEFAULT ('TESTER'), `token_hash` blob NOT NULL, `expires_at` datetime NULL, `max_uses` integer NULL, `uses` integer NOT NULL DEFAULT (0), `revoked_at` datetime NULL, `workspace_id` integer NOT NULL, `prototype_id` integer NOT NULL, `created_by_id` integer NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `invites_workspaces_workspace` FOREIGN KEY (`workspace_id`) REFERENCES `workspaces` (`id`) ON DELETE NO ACTION, CONSTRAINT `invites_prototypes_prototype` FOREIGN KEY (`prototype_id`) REFERENCES `prototypes` (`id`) ON DELETE CASCADE, CONSTRAINT `invites_users_created_by` FOREIGN KEY (`created_by_id`) REFERENCES `users` (`id`) ON DELETE NO ACTION);
-- Copy rows from old table "invites" to new temporary table "new_invites"
INSERT INTO `new_invites` (`id`, `created_at`, `updated_at`, `role`, `token_hash`, `expires_at`, `max_uses`, `uses`, `revoked_at`, `workspace_id`, `prototype_id`, `created_by_id`) SELECT `id`, `created_at`, `updated_at`, `role`, `token_hash`, `expires_at`, `max_uses`, `uses`, `revoked_at`, `workspace_id`, `prototype_id`, `created_by_id` FROM `invites`;
-- Drop "invites" table after copying rows
DROP TABLE `invites`;
-- Rename temporary table "new_invites" to "invites"
ALTER TABLE `new_invites` RENAME TO `invites`;
-- Create index "invites_token_hash_key" to table: "invites"
CREATE UNIQUE INDEX `invites_token_hash_key` ON `invites` (`token_hash`);
-- Create index "invite_workspace_id" to table: "invites"
CREATE INDEX `invite_workspace_id` ON `invites` (`workspace_id`);
-- Create index "invite_prototype_id" to table: "invites"
CREATE INDEX `invite_prototype_id` ON `invites` (`prototype_id`);
-- Create index "invite_created_by_id" to table: "invites"
CREATE INDEX `invite_created_by_id` ON `invites` (`created_by_id`);
-- Create "new_iterations" table
CREATE TABLE `new_iterations` (`id` integer NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `number` integer NULL, `title` text NOT NULL, `changelog` text NOT NULL DEFAULT (''), `url` text NULL, `status` text NOT NULL DEFAULT ('DRAFT'), `published_at` datetime NULL, `workspace_id` integer NOT NULL, `prototype_id` integer NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `iterations_workspaces_workspace` FOREIGN KEY (`workspace_id`) REFERENCES `workspaces` (`id`) ON DELETE NO ACTION, CONSTRAINT `iterations_prototypes_iterations` FOREIGN KEY (`prototype_id`) REFERENCES `prototypes` (`id`) ON DELETE CASCADE);
-- Copy rows from old table "iterations" to new temporary table "new_iterations"
INSERT INTO `new_iterations` (`id`, `created_at`, `updated_at`, `number`, `title`, `changelog`, `url`, `status`, `published_at`, `workspace_id`, `prototype_id`) SELECT `id`, `created_at`, `updated_at`, `number`, `title`, `changelog`, `url`, `status`, `published_at`, `workspace_id`, `prototype_id` FROM `iterations`;
-- Drop "iterations" table after copying rows
DROP TABLE `iterations`;
-- Rename temporary table "new_iterations" to "iterations"
ALTER TABLE `new_iterations` RENAME TO `iterations`;
-- Create index "iteration_workspace_id" to table: "iterations"
CREATE INDEX `iteration_workspace_id` ON `iterations` (`workspace_id`);
-- Create index "iteration_prototype_id_number" to table: "iterations"
CREATE UNIQUE INDEX `iteration_prototype_id_number` ON `iterations` (`prototype_id`, `number`);
-- Create index "iteration_prototype_id_created_at" to table: "iterations"
CREATE INDEX `iteration_prototype_id_created_at` ON `iterations` (`prototype_id`, `created_at`);
-- Create "new_participants" table
CREATE TABLE `new_participants` (`id` integer NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `display_name` text NOT NULL, `email` text NULL, `workspace_id` integer NOT NULL, `user_id` integer NULL, `invite_id` integer NULL, `prototype_id` integer NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `participants_workspaces_workspace` FOREIGN KEY (`workspace_id`) REFERENCES `workspaces` (`id`) ON DELETE NO ACTION, CONSTRAINT `participants_users_user` FOREIGN KEY (`user_id`) REFERENCES `users` (`id`) ON DELETE SET NULL, CONSTRAINT `participants_invites_invite` FOREIGN KEY (`invite_id`) REFERENCES `invites` (`id`) ON DELETE SET NULL, CONSTRAINT `participants_prototypes_participants` FOREIGN KEY (`prototype_id`) REFERENCES `prototypes` (`id`) ON DELETE CASCADE);
-- Copy rows from old table "participants" to new temporary table "new_participants"
INSERT INTO `new_participants` (`id`, `created_at`, `updated_at`, `display_name`, `email`, `workspace_id`, `user_id`, `invite_id`, `prototype_id`) SELECT `id`, `created_at`, `updated_at`, `display_name`, `email`, `workspace_id`, `user_id`, `invite_id`, `prototype_id` FROM `participants`;
-- Drop "participants" table after copying rows
DROP TABLE `participants`;
-- Rename temporary table "new_participants" to "participants"
ALTER TABLE `new_participants` RENAME TO `participants`;
-- Create index "participant_workspace_id" to table: "participants"
CREATE INDEX `participant_workspace_id` ON `participants` (`workspace_id`);
-- Create index "participant_prototype_id_user_id" to table: "participants"
CREATE UNIQUE INDEX `participant_prototype_id_user_id` ON `participants` (`prototype_id`, `user_id`);
-- Create index "participant_user_id" to table: "participants"
CREATE INDEX `participant_user_id` ON `participants` (`user_id`);
-- Create index "participant_invite_id" to table: "participants"
CREATE INDEX `participant_invite_id` ON `participants` (`invite_id`);
-- Create "new_trials" table
CREATE TABLE `new_trials` (`id` integer NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `started_at` datetime NOT NULL, `ended_at` datetime NULL, `outcome` text NULL, `task` text NULL, `device` text NULL, `iteration_id` integer NOT NULL, `workspace_id` integer NOT NULL, `participant_id` integer NOT NULL, `prototype_id` integer NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `trials_iterations_trials` FOREIGN KEY (`iteration_id`) REFERENCES `iterations` (`id`) ON DELETE NO ACTION, CONSTRAINT `trials_workspaces_workspace` FOREIGN KEY (`workspace_id`) REFERENCES `workspaces` (`id`) ON DELETE NO ACTION, CONSTRAINT `trials_participants_participant` FOREIGN KEY (`participant_id`) REFERENCES `participants` (`id`) ON DELETE NO ACTION, CONSTRAINT `trials_prototypes_prototype` FOREIGN KEY (`prototype_id`) REFERENCES `prototypes` (`id`) ON DELETE CASCADE);
-- Copy rows from old table "trials" to new temporary table "new_trials"
INSERT INTO `new_trials` (`id`, `created_at`, `updated_at`, `started_at`, `ended_at`, `outcome`, `task`, `device`, `iteration_id`, `workspace_id`, `participant_id`, `prototype_id`) SELECT `id`, `created_at`, `updated_at`, `started_at`, `ended_at`, `outcome`, `task`, `device`, `iteration_id`, `workspace_id`, `participant_id`, `prototype_id` FROM `trials`;
-- Drop "trials" table after copying rows
DROP TABLE `trials`;
-- Rename temporary table "new_trials" to "trials"
ALTER TABLE `new_trials` RENAME TO `trials`;
-- Create index "trial_workspace_id" to table: "trials"
CREATE INDEX `trial_workspace_id` ON `trials` (`workspace_id`);
-- Create index "trial_iteration_id_started_at" to table: "trials"
CREATE INDEX `trial_iteration_id_started_at` ON `trials` (`iteration_id`, `started_at`);
-- Create index "trial_participant_id" to table: "trials"
CREATE INDEX `trial_participant_id` ON `trials` (`participant_id`);
-- Create index "trial_prototype_id" to table: "trials"
CREATE INDEX `trial_prototype_id` ON `trials` (`prototype_id`);
-- Create "new_votes" table
CREATE TABLE `new_votes` (`id` integer NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `feedback_id` integer NOT NULL, `workspace_id` integer NOT NULL, `participant_id` integer NOT NULL, `prototype_id` integer NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `votes_feedbacks_votes` FOREIGN KEY (`feedback_id`) REFERENCES `feedbacks` (`id`) ON DELETE NO ACTION, CONSTRAINT `votes_workspaces_workspace` FOREIGN KEY (`workspace_id`) REFERENCES `workspaces` (`id`) ON DELETE NO ACTION, CONSTRAINT `votes_participants_participant` FOREIGN KEY (`participant_id`) REFERENCES `participants` (`id`) ON DELETE NO ACTION, CONSTRAINT `votes_prototypes_prototype` FOREIGN KEY (`prototype_id`) REFERENCES `prototypes` (`id`) ON DELETE CASCADE);
-- Copy rows from old table "votes" to new temporary table "new_votes"
INSERT INTO `new_votes` (`id`, `created_at`, `updated_at`, `feedback_id`, `workspace_id`, `participant_id`, `prototype_id`) SELECT `id`, `created_at`, `updated_at`, `feedback_id`, `workspace_id`, `participant_id`, `prototype_id` FROM `votes`;
-- Drop "votes" table after copying rows
DROP TABLE `votes`;
-- Rename temporary table "new_votes" to "votes"
ALTER TABLE `new_votes` RENAME TO `votes`;
-- Create index "vote_workspace_id" to table: "votes"
CREATE INDEX `vote_workspace_id` ON `votes` (`workspace_id`);
-- Create index "vote_feedback_id_participant_id" to table: "votes"
CREATE UNIQUE INDEX `vote_feedback_id_participant_id` ON `votes` (`feedback_id`, `participant_id`);
-- Create index "vote_participant_id" to table: "votes"
CREATE INDEX `vote_participant_id` ON `votes` (`participant_id`);
-- Create index "vote_prototype_id" to table: "votes"
CREATE INDEX `vote_prototype_id` ON `votes` (`prototype_id`);
-- Create "new_auth_tokens" table
CREATE TABLE `new_auth_tokens` (`id` integer NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `token_hash` blob NOT NULL, `label` text NOT NULL DEFAULT (''), `scopes` json NOT NULL, `last_used_at` datetime NULL, `expires_at` datetime NULL, `revoked_at` datetime NULL, `user_id` integer NULL, `participant_id` integer NULL, PRIMARY KEY (`id`), CONSTRAINT `auth_tokens_users_user` FOREIGN KEY (`user_id`) REFERENCES `users` (`id`) ON DELETE SET NULL, CONSTRAINT `auth_tokens_participants_participant` FOREIGN KEY (`participant_id`) REFERENCES `participants` (`id`) ON DELETE CASCADE);
-- Copy rows from old table "auth_tokens" to new temporary table "new_auth_tokens"
INSERT INTO `new_auth_tokens` (`id`, `created_at`, `updated_at`, `token_hash`, `label`, `scopes`, `last_used_at`, `expires_at`, `revoked_at`, `user_id`, `participant_id`) SELECT `id`, `created_at`, `updated_at`, `token_hash`, `label`, `scopes`, `last_used_at`, `expires_at`, `revoked_at`, `user_id`, `participant_id` FROM `auth_tokens`;
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
-- Enable back the enforcement of foreign-keys constraints
PRAGMA foreign_keys = on;
