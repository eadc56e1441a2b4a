-- Drop index "event_actor_participant_id" from table: "events"
DROP INDEX "event_actor_participant_id";
-- Drop index "event_actor_user_id" from table: "events"
DROP INDEX "event_actor_user_id";
-- Create index "event_actor_participant_id" to table: "events"
CREATE INDEX "event_actor_participant_id" ON "events" ("actor_participant_id") WHERE (actor_participant_id IS NOT NULL);
-- Create index "event_actor_user_id" to table: "events"
CREATE INDEX "event_actor_user_id" ON "events" ("actor_user_id") WHERE (actor_user_id IS NOT NULL);
