-- Create "alert_rules" table
CREATE TABLE "alert_rules" ("id" bigint NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "kind" character varying NOT NULL, "threshold" double precision NOT NULL, "enabled" boolean NOT NULL DEFAULT true, "crossed_for" bigint NULL, "fired_count" bigint NOT NULL DEFAULT 0, "last_fired_at" timestamptz NULL, "workspace_id" bigint NOT NULL, "prototype_id" bigint NOT NULL, PRIMARY KEY ("id"), CONSTRAINT "alert_rules_prototypes_prototype" FOREIGN KEY ("prototype_id") REFERENCES "prototypes" ("id") ON UPDATE NO ACTION ON DELETE CASCADE, CONSTRAINT "alert_rules_workspaces_workspace" FOREIGN KEY ("workspace_id") REFERENCES "workspaces" ("id") ON UPDATE NO ACTION ON DELETE NO ACTION);
-- Create index "alertrule_prototype_id_kind" to table: "alert_rules"
CREATE INDEX "alertrule_prototype_id_kind" ON "alert_rules" ("prototype_id", "kind");
-- Create index "alertrule_workspace_id" to table: "alert_rules"
CREATE INDEX "alertrule_workspace_id" ON "alert_rules" ("workspace_id");
-- Create "webhooks" table
CREATE TABLE "webhooks" ("id" bigint NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "url" character varying NOT NULL, "secret" character varying NOT NULL, "event_kinds" jsonb NOT NULL, "description" character varying NOT NULL DEFAULT '', "enabled" boolean NOT NULL DEFAULT true, "failure_count" bigint NOT NULL DEFAULT 0, "last_error" text NULL, "last_error_at" timestamptz NULL, "last_success_at" timestamptz NULL, "disabled_at" timestamptz NULL, "workspace_id" bigint NOT NULL, PRIMARY KEY ("id"), CONSTRAINT "webhooks_workspaces_workspace" FOREIGN KEY ("workspace_id") REFERENCES "workspaces" ("id") ON UPDATE NO ACTION ON DELETE NO ACTION);
-- Create index "webhook_workspace_id" to table: "webhooks"
CREATE INDEX "webhook_workspace_id" ON "webhooks" ("workspace_id");
-- Create "webhook_deliveries" table
CREATE TABLE "webhook_deliveries" ("id" bigint NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "kind" character varying NOT NULL, "body" text NOT NULL, "status" character varying NOT NULL DEFAULT 'PENDING', "attempts" bigint NOT NULL DEFAULT 0, "next_attempt_at" timestamptz NOT NULL, "last_attempt_at" timestamptz NULL, "response_status" bigint NULL, "last_error" text NULL, "delivered_at" timestamptz NULL, "webhook_id" bigint NOT NULL, "workspace_id" bigint NOT NULL, "event_id" bigint NULL, PRIMARY KEY ("id"), CONSTRAINT "webhook_deliveries_events_event" FOREIGN KEY ("event_id") REFERENCES "events" ("id") ON UPDATE NO ACTION ON DELETE SET NULL, CONSTRAINT "webhook_deliveries_webhooks_deliveries" FOREIGN KEY ("webhook_id") REFERENCES "webhooks" ("id") ON UPDATE NO ACTION ON DELETE CASCADE, CONSTRAINT "webhook_deliveries_workspaces_workspace" FOREIGN KEY ("workspace_id") REFERENCES "workspaces" ("id") ON UPDATE NO ACTION ON DELETE NO ACTION);
-- Create index "webhookdelivery_event_id" to table: "webhook_deliveries"
CREATE INDEX "webhookdelivery_event_id" ON "webhook_deliveries" ("event_id");
-- Create index "webhookdelivery_status_next_attempt_at" to table: "webhook_deliveries"
CREATE INDEX "webhookdelivery_status_next_attempt_at" ON "webhook_deliveries" ("status", "next_attempt_at");
-- Create index "webhookdelivery_webhook_id_created_at" to table: "webhook_deliveries"
CREATE INDEX "webhookdelivery_webhook_id_created_at" ON "webhook_deliveries" ("webhook_id", "created_at");
-- Create index "webhookdelivery_workspace_id" to table: "webhook_deliveries"
CREATE INDEX "webhookdelivery_workspace_id" ON "webhook_deliveries" ("workspace_id");
