-- Drop index "feedback_prototype_id_created_at" from table: "feedbacks"
DROP INDEX `feedback_prototype_id_created_at`;
-- Create index "feedback_prototype_id_created_at_id" to table: "feedbacks"
CREATE INDEX `feedback_prototype_id_created_at_id` ON `feedbacks` (`prototype_id`, `created_at`, `id`);
