-- Drop index "event_workspace_id" from table: "events"
DROP INDEX "event_workspace_id";
