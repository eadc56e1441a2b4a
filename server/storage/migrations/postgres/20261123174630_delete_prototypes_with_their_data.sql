-- Modify "participants" table
ALTER TABLE "participants" DROP CONSTRAINT "participants_prototypes_participants", ADD CONSTRAINT "participants_prototypes_participants" FOREIGN KEY ("prototype_id") REFERENCES "prototypes" ("id") ON UPDATE NO ACTION ON DELETE CASCADE;
-- Modify "auth_tokens" table
ALTER TABLE "auth_tokens" DROP CONSTRAINT "auth_tokens_participants_participant", ADD CONSTRAINT "auth_tokens_participants_participant" FOREIGN KEY ("participant_id") REFERENCES "participants" ("id") ON UPDATE NO ACTION ON DELETE CASCADE;
-- Modify "comments" table
ALTER TABLE "comments" DROP CONSTRAINT "comments_prototypes_prototype", ADD CONSTRAINT "comments_prototypes_prototype" FOREIGN KEY ("prototype_id") REFERENCES "prototypes" ("id") ON UPDATE NO ACTION ON DELETE CASCADE;
-- Modify "events" table
ALTER TABLE "events" DROP CONSTRAINT "events_prototypes_timeline", ADD CONSTRAINT "events_prototypes_timeline" FOREIGN KEY ("prototype_id") REFERENCES "prototypes" ("id") ON UPDATE NO ACTION ON DELETE CASCADE;
-- Modify "feedbacks" table
ALTER TABLE "feedbacks" DROP CONSTRAINT "feedbacks_prototypes_feedback", ADD CONSTRAINT "feedbacks_prototypes_feedback" FOREIGN KEY ("prototype_id") REFERENCES "prototypes" ("id") ON UPDATE NO ACTION ON DELETE CASCADE;
-- Modify "invites" table
ALTER TABLE "invites" DROP CONSTRAINT "invites_prototypes_prototype", ADD CONSTRAINT "invites_prototypes_prototype" FOREIGN KEY ("prototype_id") REFERENCES "prototypes" ("id") ON UPDATE NO ACTION ON DELETE CASCADE;
-- Modify "iterations" table
ALTER TABLE "iterations" DROP CONSTRAINT "iterations_prototypes_iterations", ADD CONSTRAINT "iterations_prototypes_iterations" FOREIGN KEY ("prototype_id") REFERENCES "prototypes" ("id") ON UPDATE NO ACTION ON DELETE CASCADE;
-- Modify "trials" table
ALTER TABLE "trials" DROP CONSTRAINT "trials_prototypes_prototype", ADD CONSTRAINT "trials_prototypes_prototype" FOREIGN KEY ("prototype_id") REFERENCES "prototypes" ("id") ON UPDATE NO ACTION ON DELETE CASCADE;
-- Modify "votes" table
ALTER TABLE "votes" DROP CONSTRAINT "votes_prototypes_prototype", ADD CONSTRAINT "votes_prototypes_prototype" FOREIGN KEY ("prototype_id") REFERENCES "prototypes" ("id") ON UPDATE NO ACTION ON DELETE CASCADE;
