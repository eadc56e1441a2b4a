-- Disable the enforcement of foreign-keys constraints
PRAGMA foreign_keys = off;
-- Create "new_feedbacks" table
CREATE TABLE `new_feedbacks` (`id` integer NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `kind` text NOT NULL, `body` text NOT NULL, `rating` integer NULL, `minutes_saved_per_day` integer NULL, `status` text NOT NULL DEFAULT ('OPEN'), `verdict` text NULL, `verified_at` datetime NULL, `vote_count` integer NOT NULL DEFAULT (0), `idempotency_key` text NULL, `workspace_id` integer NOT NULL, `author_id` integer NOT NULL, `trial_id` integer NULL, `merged_into_id` integer NULL, `iteration_id` integer NOT NULL, `addressed_in_id` integer NULL, `prototype_id` integer NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `feedbacks_workspaces_workspace` FOREIGN KEY (`workspace_id`) REFERENCES `workspaces` (`id`) ON DELETE NO ACTION, CONSTRAINT `feedbacks_participants_author` FOREIGN KEY (`author_id`) REFERENCES `participants` (`id`) ON DELETE NO ACTION, CONSTRAINT `feedbacks_trials_trial` FOREIGN KEY (`trial_id`) REFERENCES `trials` (`id`) ON DELETE SET NULL, CONSTRAINT `feedbacks_feedbacks_merged_from` FOREIGN KEY (`merged_into_id`) REFERENCES `feedbacks` (`id`) ON DELETE SET NULL, CONSTRAINT `feedbacks_iterations_feedback` FOREIGN KEY (`iteration_id`) REFERENCES `iterations` (`id`) ON DELETE NO ACTION, CONSTRAINT `feedbacks_iterations_addresses` FOREIGN KEY (`addressed_in_id`) REFERENCES `iterations` (`id`) ON DELETE SET NULL, CONSTRAINT `feedbacks_prototypes_feedback` FOREIGN KEY (`prototype_id`) REFERENCES `prototypes` (`id`) ON DELETE CASCADE);
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
-- Create index "feedback_merged_into_id" to table: "feedbacks"
CREATE INDEX `feedback_merged_into_id` ON `feedbacks` (`merged_into_id`);
-- Enable back the enforcement of foreign-keys constraints
PRAGMA foreign_keys = on;
