-- Add column "verdict" to table: "feedbacks"
ALTER TABLE `feedbacks` ADD COLUMN `verdict` text NULL;
-- Add column "verified_at" to table: "feedbacks"
ALTER TABLE `feedbacks` ADD COLUMN `verified_at` datetime NULL;
