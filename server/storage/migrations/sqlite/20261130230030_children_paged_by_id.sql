-- Drop index "iteration_prototype_id_created_at" from table: "iterations"
DROP INDEX `iteration_prototype_id_created_at`;
-- Create index "iteration_prototype_id_id" to table: "iterations"
CREATE INDEX `iteration_prototype_id_id` ON `iterations` (`prototype_id`, `id`);
-- Drop index "feedback_iteration_id_created_at" from table: "feedbacks"
DROP INDEX `feedback_iteration_id_created_at`;
-- Create index "feedback_iteration_id_id" to table: "feedbacks"
CREATE INDEX `feedback_iteration_id_id` ON `feedbacks` (`iteration_id`, `id`);
