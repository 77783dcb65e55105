-- A line takes its number (seq) from line_numbers as it is written, by default: the
-- lines of a commit are copied in (COPY) without a round trip to number them first.
ALTER TABLE charge_lines ALTER COLUMN seq SET DEFAULT nextval('line_numbers');
