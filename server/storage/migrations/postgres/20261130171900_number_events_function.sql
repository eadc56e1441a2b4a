-- Written by hand, not by migrate_gen (ent does not declare functions);
-- migrate_gen's diff compares tables and leaves it alone.
--
-- Event numbering (server/broker/number.go explains the steps) as a
-- function rather than the DO block each numbering sent: a DO block is
-- compiled and its statements planned on every call, half a millisecond
-- of the database's CPU, and the planning of the last-position read and
-- of the UPDATE came after the events lock was taken, so while holding
-- it. A function's plans are kept by each connection. The lock key is
-- broker.LockKey ("protolo"), the channel broker.Channel. The tables are
-- resolved through the caller's search_path, as the DO block's were.
CREATE FUNCTION "protoloop_number_events"() RETURNS void LANGUAGE plpgsql AS $number$
DECLARE
	last bigint;
	numbered bigint;
BEGIN
	IF NOT EXISTS (SELECT 1 FROM events WHERE seq < 0) THEN
		RETURN;
	END IF;
	PERFORM pg_advisory_xact_lock(31651020411989103);
	IF NOT EXISTS (SELECT 1 FROM events WHERE seq < 0) THEN
		RETURN;
	END IF;
	SELECT COALESCE(MAX(seq), 0) INTO last FROM events WHERE seq > 0;
	-- Joined on seq, not id, with seq < 0 on both sides: the planner then
	-- reads both from the seq index; on id it scans the whole table.
	WITH pending AS (
		SELECT seq, ROW_NUMBER() OVER (ORDER BY occurred_at, seq DESC) AS n
		FROM events WHERE seq < 0
	)
	UPDATE events SET seq = last + pending.n FROM pending
	WHERE events.seq = pending.seq AND events.seq < 0;
	GET DIAGNOSTICS numbered = ROW_COUNT;
	IF numbered > 0 THEN
		PERFORM pg_notify('protoloop_events', current_schema() || ':' || (last + numbered));
	END IF;
END
$number$;
