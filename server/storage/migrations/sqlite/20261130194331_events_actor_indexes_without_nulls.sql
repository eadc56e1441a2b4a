-- Disable the enforcement of foreign-keys constraints
PRAGMA foreign_keys = off;
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
-- Create index "event_prototype_id_seq" to table: "events"
CREATE INDEX `event_prototype_id_seq` ON `events` (`prototype_id`, `seq`);
-- Create index "event_workspace_id_seq" to table: "events"
CREATE INDEX `event_workspace_id_seq` ON `events` (`workspace_id`, `seq`);
-- Create index "event_actor_user_id" to table: "events"
CREATE INDEX `event_actor_user_id` ON `events` (`actor_user_id`) WHERE actor_user_id IS NOT NULL;
-- Create index "event_actor_participant_id" to table: "events"
CREATE INDEX `event_actor_participant_id` ON `events` (`actor_participant_id`) WHERE actor_participant_id IS NOT NULL;
-- Enable back the enforcement of foreign-keys constraints
PRAGMA foreign_keys = on;
