-- Written by hand, not by migrate_gen (ent cannot declare an expression
-- index or an extension); migrate_gen's diff leaves the objects below
-- alone. See docs/search.md.
--
-- Full-text search: GIN indexes on the same expressions graph/search.go
-- queries with, so that "@@" on them is an index scan.
CREATE INDEX "search_feedbacks_body" ON "feedbacks" USING GIN (to_tsvector('simple'::regconfig, "body"));
CREATE INDEX "search_comments_body" ON "comments" USING GIN (to_tsvector('simple'::regconfig, "body"));
-- Likely duplicates (Feedback.similar) use pg_trgm's similarity() when the
-- extension is there. Creating it needs rights a database user may lack,
-- so failing to is not an error: protoloop then falls back to comparing
-- words (see graph/duplicates.go). It goes into schema public, if there is
-- one, so that it outlives the schema protoloop runs in (tests drop
-- theirs); protoloop finds it in whichever schema it is.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
    CREATE EXTENSION pg_trgm SCHEMA public;
  END IF;
EXCEPTION WHEN OTHERS THEN
  RAISE NOTICE 'pg_trgm not installed (%): Feedback.similar compares words instead', SQLERRM;
END
$$;
