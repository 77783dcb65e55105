-- A line funded from one source (nearly every line) carries that part in its own row,
-- and writes no funding entry: one row per line instead of two. Entries remain for a
-- line split over several sources and for a void's reversals. NULL: the line's
-- funding, if any, is in funding_entries (every line written before this migration).
ALTER TABLE charge_lines
    ADD COLUMN source text CHECK (source IN ('free', 'pack', 'payg')),
    ADD COLUMN pack_id text,
    ADD COLUMN day text;
