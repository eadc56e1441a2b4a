-- Create "alert_rules" table
CREATE TABLE `alert_rules` (`id` integer NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `kind` text NOT NULL, `threshold` real NOT NULL, `enabled` bool NOT NULL DEFAULT (true), `crossed_for` integer NULL, `fired_count` integer NOT NULL DEFAULT (0), `last_fired_at` datetime NULL, `workspace_id` integer NOT NULL, `prototype_id` integer NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `alert_rules_workspaces_workspace` FOREIGN KEY (`workspace_id`) REFERENCES `workspaces` (`id`) ON DELETE NO ACTION, CONSTRAINT `alert_rules_prototypes_prototype` FOREIGN KEY (`prototype_id`) REFERENCES `prototypes` (`id`) ON DELETE CASCADE);
-- Create index "alertrule_workspace_id" to table: "alert_rules"
CREATE INDEX `alertrule_workspace_id` ON `alert_rules` (`workspace_id`);
-- Create index "alertrule_prototype_id_kind" to table: "alert_rules"
CREATE INDEX `alertrule_prototype_id_kind` ON `alert_rules` (`prototype_id`, `kind`);
-- Create "webhooks" table
CREATE TABLE `webhooks` (`id` integer NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `url` text NOT NULL, `secret` text NOT NULL, `event_kinds` json NOT NULL, `description` text NOT NULL DEFAULT (''), `enabled` bool NOT NULL DEFAULT (true), `failure_count` integer NOT NULL DEFAULT (0), `last_error` text NULL, `last_error_at` datetime NULL, `last_success_at` datetime NULL, `disabled_at` datetime NULL, `workspace_id` integer NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `webhooks_workspaces_workspace` FOREIGN KEY (`workspace_id`) REFERENCES `workspaces` (`id`) ON DELETE NO ACTION);
-- Create index "webhook_workspace_id" to table: "webhooks"
CREATE INDEX `webhook_workspace_id` ON `webhooks` (`workspace_id`);
-- Create "webhook_deliveries" table
CREATE TABLE `webhook_deliveries` (`id` integer NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `kind` text NOT NULL, `body` text NOT NULL, `status` text NOT NULL DEFAULT ('PENDING'), `attempts` integer NOT NULL DEFAULT (0), `next_attempt_at` datetime NOT NULL, `last_attempt_at` datetime NULL, `response_status` integer NULL, `last_error` text NULL, `delivered_at` datetime NULL, `webhook_id` integer NOT NULL, `workspace_id` integer NOT NULL, `event_id` integer NULL, PRIMARY KEY (`id`), CONSTRAINT `webhook_deliveries_webhooks_deliveries` FOREIGN KEY (`webhook_id`) REFERENCES `webhooks` (`id`) ON DELETE CASCADE, CONSTRAINT `webhook_deliveries_workspaces_workspace` FOREIGN KEY (`workspace_id`) REFERENCES `workspaces` (`id`) ON DELETE NO ACTION, CONSTRAINT `webhook_deliveries_events_event` FOREIGN KEY (`event_id`) REFERENCES `events` (`id`) ON DELETE SET NULL);
-- Create index "webhookdelivery_workspace_id" to table: "webhook_deliveries"
CREATE INDEX `webhookdelivery_workspace_id` ON `webhook_deliveries` (`workspace_id`);
-- Create index "webhookdelivery_status_next_attempt_at" to table: "webhook_deliveries"
CREATE INDEX `webhookdelivery_status_next_attempt_at` ON `webhook_deliveries` (`status`, `next_attempt_at`);
-- Create index "webhookdelivery_webhook_id_created_at" to table: "webhook_deliveries"
CREATE INDEX `webhookdelivery_webhook_id_created_at` ON `webhook_deliveries` (`webhook_id`, `created_at`);
-- Create index "webhookdelivery_event_id" to table: "webhook_deliveries"
CREATE INDEX `webhookdelivery_event_id` ON `webhook_deliveries` (`event_id`);
