-- Create "auth_tokens" table
CREATE TABLE `auth_tokens` (`id` integer NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `token_hash` blob NOT NULL, `scopes` json NOT NULL, `last_used_at` datetime NULL, `expires_at` datetime NULL, `revoked_at` datetime NULL, `user_id` integer NULL, `participant_id` integer NULL, PRIMARY KEY (`id`), CONSTRAINT `auth_tokens_users_user` FOREIGN KEY (`user_id`) REFERENCES `users` (`id`) ON DELETE SET NULL, CONSTRAINT `auth_tokens_participants_participant` FOREIGN KEY (`participant_id`) REFERENCES `participants` (`id`) ON DELETE SET NULL);
-- Create index "auth_tokens_token_hash_key" to table: "auth_tokens"
CREATE UNIQUE INDEX `auth_tokens_token_hash_key` ON `auth_tokens` (`token_hash`);
-- Create index "authtoken_user_id" to table: "auth_tokens"
CREATE INDEX `authtoken_user_id` ON `auth_tokens` (`user_id`);
-- Create index "authtoken_participant_id" to table: "auth_tokens"
CREATE INDEX `authtoken_participant_id` ON `auth_tokens` (`participant_id`);
-- Create "comments" table
CREATE TABLE `comments` (`id` integer NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `body` text NOT NULL, `workspace_id` integer NOT NULL, `author_id` integer NOT NULL, `prototype_id` integer NOT NULL, `parent_id` integer NULL, `feedback_id` integer NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `comments_workspaces_workspace` FOREIGN KEY (`workspace_id`) REFERENCES `workspaces` (`id`) ON DELETE NO ACTION, CONSTRAINT `comments_participants_author` FOREIGN KEY (`author_id`) REFERENCES `participants` (`id`) ON DELETE NO ACTION, CONSTRAINT `comments_prototypes_prototype` FOREIGN KEY (`prototype_id`) REFERENCES `prototypes` (`id`) ON DELETE NO ACTION, CONSTRAINT `comments_comments_replies` FOREIGN KEY (`parent_id`) REFERENCES `comments` (`id`) ON DELETE SET NULL, CONSTRAINT `comments_feedbacks_comments` FOREIGN KEY (`feedback_id`) REFERENCES `feedbacks` (`id`) ON DELETE NO ACTION);
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
-- Create "events" table
CREATE TABLE `events` (`id` integer NOT NULL, `seq` integer NOT NULL, `kind` text NOT NULL, `subject_id` integer NOT NULL, `occurred_at` datetime NOT NULL, `payload` json NULL, `workspace_id` integer NOT NULL, `actor_user_id` integer NULL, `actor_participant_id` integer NULL, `prototype_id` integer NULL, PRIMARY KEY (`id`), CONSTRAINT `events_workspaces_workspace` FOREIGN KEY (`workspace_id`) REFERENCES `workspaces` (`id`) ON DELETE NO ACTION, CONSTRAINT `events_users_actor_user` FOREIGN KEY (`actor_user_id`) REFERENCES `users` (`id`) ON DELETE SET NULL, CONSTRAINT `events_participants_actor_participant` FOREIGN KEY (`actor_participant_id`) REFERENCES `participants` (`id`) ON DELETE SET NULL, CONSTRAINT `events_prototypes_timeline` FOREIGN KEY (`prototype_id`) REFERENCES `prototypes` (`id`) ON DELETE SET NULL);
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
-- Create "feedbacks" table
CREATE TABLE `feedbacks` (`id` integer NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `kind` text NOT NULL, `body` text NOT NULL, `rating` integer NULL, `minutes_saved_per_day` integer NULL, `status` text NOT NULL DEFAULT ('OPEN'), `vote_count` integer NOT NULL DEFAULT (0), `idempotency_key` text NULL, `workspace_id` integer NOT NULL, `author_id` integer NOT NULL, `trial_id` integer NULL, `iteration_id` integer NOT NULL, `addressed_in_id` integer NULL, `prototype_id` integer NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `feedbacks_workspaces_workspace` FOREIGN KEY (`workspace_id`) REFERENCES `workspaces` (`id`) ON DELETE NO ACTION, CONSTRAINT `feedbacks_participants_author` FOREIGN KEY (`author_id`) REFERENCES `participants` (`id`) ON DELETE NO ACTION, CONSTRAINT `feedbacks_trials_trial` FOREIGN KEY (`trial_id`) REFERENCES `trials` (`id`) ON DELETE SET NULL, CONSTRAINT `feedbacks_iterations_feedback` FOREIGN KEY (`iteration_id`) REFERENCES `iterations` (`id`) ON DELETE NO ACTION, CONSTRAINT `feedbacks_iterations_addresses` FOREIGN KEY (`addressed_in_id`) REFERENCES `iterations` (`id`) ON DELETE SET NULL, CONSTRAINT `feedbacks_prototypes_feedback` FOREIGN KEY (`prototype_id`) REFERENCES `prototypes` (`id`) ON DELETE NO ACTION);
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
-- Create "invites" table
CREATE TABLE `invites` (`id` integer NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `role` text NOT NULL DEFAULT ('TESTER'), `token_hash` blob NOT NULL, `expires_at` datetime NULL, `max_uses` integer NULL, `uses` integer NOT NULL DEFAULT (0), `revoked_at` datetime NULL, `workspace_id` integer NOT NULL, `prototype_id` integer NOT NULL, `created_by_id` integer NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `invites_workspaces_workspace` FOREIGN KEY (`workspace_id`) REFERENCES `workspaces` (`id`) ON DELETE NO ACTION, CONSTRAINT `invites_prototypes_prototype` FOREIGN KEY (`prototype_id`) REFERENCES `prototypes` (`id`) ON DELETE NO ACTION, CONSTRAINT `invites_users_created_by` FOREIGN KEY (`created_by_id`) REFERENCES `users` (`id`) ON DELETE NO ACTION);
-- Create index "invites_token_hash_key" to table: "invites"
CREATE UNIQUE INDEX `invites_token_hash_key` ON `invites` (`token_hash`);
-- Create index "invite_workspace_id" to table: "invites"
CREATE INDEX `invite_workspace_id` ON `invites` (`workspace_id`);
-- Create index "invite_prototype_id" to table: "invites"
CREATE INDEX `invite_prototype_id` ON `invites` (`prototype_id`);
-- Create index "invite_created_by_id" to table: "invites"
CREATE INDEX `invite_created_by_id` ON `invites` (`created_by_id`);
-- Create "iterations" table
CREATE TABLE `iterations` (`id` integer NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `number` integer NULL, `title` text NOT NULL, `changelog` text NOT NULL DEFAULT (''), `url` text NULL, `status` text NOT NULL DEFAULT ('DRAFT'), `published_at` datetime NULL, `workspace_id` integer NOT NULL, `prototype_id` integer NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `iterations_workspaces_workspace` FOREIGN KEY (`workspace_id`) REFERENCES `workspaces` (`id`) ON DELETE NO ACTION, CONSTRAINT `iterations_prototypes_iterations` FOREIGN KEY (`prototype_id`) REFERENCES `prototypes` (`id`) ON DELETE NO ACTION);
-- Create index "iteration_workspace_id" to table: "iterations"
CREATE INDEX `iteration_workspace_id` ON `iterations` (`workspace_id`);
-- Create index "iteration_prototype_id_number" to table: "iterations"
CREATE UNIQUE INDEX `iteration_prototype_id_number` ON `iterations` (`prototype_id`, `number`);
-- Create index "iteration_prototype_id_created_at" to table: "iterations"
CREATE INDEX `iteration_prototype_id_created_at` ON `iterations` (`prototype_id`, `created_at`);
-- Create "memberships" table
CREATE TABLE `memberships` (`id` integer NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `role` text NOT NULL, `user_id` integer NOT NULL, `workspace_id` integer NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `memberships_users_user` FOREIGN KEY (`user_id`) REFERENCES `users` (`id`) ON DELETE NO ACTION, CONSTRAINT `memberships_workspaces_memberships` FOREIGN KEY (`workspace_id`) REFERENCES `workspaces` (`id`) ON DELETE NO ACTION);
-- Create index "membership_workspace_id_user_id" to table: "memberships"
CREATE UNIQUE INDEX `membership_workspace_id_user_id` ON `memberships` (`workspace_id`, `user_id`);
-- Create index "membership_user_id" to table: "memberships"
CREATE INDEX `membership_user_id` ON `memberships` (`user_id`);
-- Create "participants" table
CREATE TABLE `participants` (`id` integer NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `display_name` text NOT NULL, `email` text NULL, `workspace_id` integer NOT NULL, `user_id` integer NULL, `invite_id` integer NULL, `prototype_id` integer NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `participants_workspaces_workspace` FOREIGN KEY (`workspace_id`) REFERENCES `workspaces` (`id`) ON DELETE NO ACTION, CONSTRAINT `participants_users_user` FOREIGN KEY (`user_id`) REFERENCES `users` (`id`) ON DELETE SET NULL, CONSTRAINT `participants_invites_invite` FOREIGN KEY (`invite_id`) REFERENCES `invites` (`id`) ON DELETE SET NULL, CONSTRAINT `participants_prototypes_participants` FOREIGN KEY (`prototype_id`) REFERENCES `prototypes` (`id`) ON DELETE NO ACTION);
-- Create index "participant_workspace_id" to table: "participants"
CREATE INDEX `participant_workspace_id` ON `participants` (`workspace_id`);
-- Create index "participant_prototype_id_user_id" to table: "participants"
CREATE UNIQUE INDEX `participant_prototype_id_user_id` ON `participants` (`prototype_id`, `user_id`);
-- Create index "participant_user_id" to table: "participants"
CREATE INDEX `participant_user_id` ON `participants` (`user_id`);
-- Create index "participant_invite_id" to table: "participants"
CREATE INDEX `participant_invite_id` ON `participants` (`invite_id`);
-- Create "prototypes" table
CREATE TABLE `prototypes` (`id` integer NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `title` text NOT NULL, `slug` text NOT NULL, `problem` text NOT NULL DEFAULT (''), `mission_link` text NOT NULL DEFAULT (''), `status` text NOT NULL DEFAULT ('DRAFT'), `tags` json NOT NULL, `owner_id` integer NOT NULL, `workspace_id` integer NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `prototypes_users_owner` FOREIGN KEY (`owner_id`) REFERENCES `users` (`id`) ON DELETE NO ACTION, CONSTRAINT `prototypes_workspaces_prototypes` FOREIGN KEY (`workspace_id`) REFERENCES `workspaces` (`id`) ON DELETE NO ACTION);
-- Create index "prototype_workspace_id_slug" to table: "prototypes"
CREATE UNIQUE INDEX `prototype_workspace_id_slug` ON `prototypes` (`workspace_id`, `slug`);
-- Create index "prototype_workspace_id_created_at" to table: "prototypes"
CREATE INDEX `prototype_workspace_id_created_at` ON `prototypes` (`workspace_id`, `created_at`);
-- Create index "prototype_owner_id" to table: "prototypes"
CREATE INDEX `prototype_owner_id` ON `prototypes` (`owner_id`);
-- Create "trials" table
CREATE TABLE `trials` (`id` integer NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `started_at` datetime NOT NULL, `ended_at` datetime NULL, `outcome` text NULL, `task` text NULL, `device` text NULL, `iteration_id` integer NOT NULL, `workspace_id` integer NOT NULL, `participant_id` integer NOT NULL, `prototype_id` integer NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `trials_iterations_trials` FOREIGN KEY (`iteration_id`) REFERENCES `iterations` (`id`) ON DELETE NO ACTION, CONSTRAINT `trials_workspaces_workspace` FOREIGN KEY (`workspace_id`) REFERENCES `workspaces` (`id`) ON DELETE NO ACTION, CONSTRAINT `trials_participants_participant` FOREIGN KEY (`participant_id`) REFERENCES `participants` (`id`) ON DELETE NO ACTION, CONSTRAINT `trials_prototypes_prototype` FOREIGN KEY (`prototype_id`) REFERENCES `prototypes` (`id`) ON DELETE NO ACTION);
-- Create index "trial_workspace_id" to table: "trials"
CREATE INDEX `trial_workspace_id` ON `trials` (`workspace_id`);
-- Create index "trial_iteration_id_started_at" to table: "trials"
CREATE INDEX `trial_iteration_id_started_at` ON `trials` (`iteration_id`, `started_at`);
-- Create index "trial_participant_id" to table: "trials"
CREATE INDEX `trial_participant_id` ON `trials` (`participant_id`);
-- Create index "trial_prototype_id" to table: "trials"
CREATE INDEX `trial_prototype_id` ON `trials` (`prototype_id`);
-- Create "users" table
CREATE TABLE `users` (`id` integer NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `email` text NOT NULL, `name` text NOT NULL, `password_hash` text NOT NULL, PRIMARY KEY (`id`));
-- Create index "users_email_key" to table: "users"
CREATE UNIQUE INDEX `users_email_key` ON `users` (`email`);
-- Create "votes" table
CREATE TABLE `votes` (`id` integer NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `feedback_id` integer NOT NULL, `workspace_id` integer NOT NULL, `participant_id` integer NOT NULL, `prototype_id` integer NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `votes_feedbacks_votes` FOREIGN KEY (`feedback_id`) REFERENCES `feedbacks` (`id`) ON DELETE NO ACTION, CONSTRAINT `votes_workspaces_workspace` FOREIGN KEY (`workspace_id`) REFERENCES `workspaces` (`id`) ON DELETE NO ACTION, CONSTRAINT `votes_participants_participant` FOREIGN KEY (`participant_id`) REFERENCES `participants` (`id`) ON DELETE NO ACTION, CONSTRAINT `votes_prototypes_prototype` FOREIGN KEY (`prototype_id`) REFERENCES `prototypes` (`id`) ON DELETE NO ACTION);
-- Create index "vote_workspace_id" to table: "votes"
CREATE INDEX `vote_workspace_id` ON `votes` (`workspace_id`);
-- Create index "vote_feedback_id_participant_id" to table: "votes"
CREATE UNIQUE INDEX `vote_feedback_id_participant_id` ON `votes` (`feedback_id`, `participant_id`);
-- Create index "vote_participant_id" to table: "votes"
CREATE INDEX `vote_participant_id` ON `votes` (`participant_id`);
-- Create index "vote_prototype_id" to table: "votes"
CREATE INDEX `vote_prototype_id` ON `votes` (`prototype_id`);
-- Create "workspaces" table
CREATE TABLE `workspaces` (`id` integer NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `name` text NOT NULL, `slug` text NOT NULL, `mission` text NOT NULL DEFAULT (''), `headcount` integer NOT NULL DEFAULT (0), PRIMARY KEY (`id`));
-- Create index "workspaces_slug_key" to table: "workspaces"
CREATE UNIQUE INDEX `workspaces_slug_key` ON `workspaces` (`slug`);
