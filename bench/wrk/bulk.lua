-- POST /api/v1/tasks/bulk/ {"ids": [...], "set": {"status": ...}}: every request sets
-- all the tasks of BENCH_IDS to the other of pending and in_progress, so each changes
-- every one of them (a new version and an event per task).
--
-- BENCH_IDS         comma-separated task ids (at most 100), all in the same status.
-- BENCH_BULK_FIRST  the status the first request sets (default in_progress: the seeded
--                   tasks are pending); bench/run.py reads it from the database
--                   after the warm-up.
-- Run with one connection (wrk -t1 -c1): a request goes out once the one before has
-- answered, and the status flips only on a 200, so a failed request is repeated
-- rather than leaving the next one a no-op.
dofile(debug.getinfo(1, "S").source:sub(2):match("^(.*/)") .. "common.lua")

local headers = {}
for name, value in pairs(bench.headers) do
  headers[name] = value
end
headers["Content-Type"] = "application/json"

local ids = os.getenv("BENCH_IDS") or ""
local statuses = { "pending", "in_progress" }
local next_status = os.getenv("BENCH_BULK_FIRST") == "pending" and 1 or 2

function request()
  local body = string.format(
    '{"ids":[%s],"set":{"status":"%s"}}', ids, statuses[next_status]
  )
  return wrk.format("POST", "/api/v1/tasks/bulk/", headers, body)
end

function response(status, response_headers, body)
  bench.count(status)
  if status == 200 then
    next_status = 3 - next_status
  end
end
