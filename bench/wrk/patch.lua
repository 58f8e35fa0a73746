-- PATCH /api/v1/tasks/{id}/ {"status": ...} with If-Match, cycling each task through
-- pending -> in_progress -> completed -> pending.
--
-- BENCH_TASKS is a comma-separated list of "id:version" (version 1 when left out);
-- thread i takes every BENCH_THREADS-th of them. A task is out of the thread's pool
-- while a request on it is in flight, and goes back with the version from the response's ETag, so
-- every request carries the current ETag and no two connections race on a task
-- (give at least one more task per thread than connections per thread). A failed
-- response loses its task from the pool; if the pool runs dry a request goes out
-- without If-Match and is counted as "starved".
dofile(debug.getinfo(1, "S").source:sub(2):match("^(.*/)") .. "common.lua")

local statuses = { "pending", "in_progress", "completed" }
local headers = {}
for name, value in pairs(bench.headers) do
  headers[name] = value
end
headers["Content-Type"] = "application/json"

-- The pool: a FIFO of free tasks.
local free, head, tail = {}, 1, 0
-- Versions move only through this script, so a task at version v is in
-- statuses[(v - 1) % 3 + 1] and goes next to statuses[v % 3 + 1].
local version, pooled = {}, {}
local fallback

function init(args)
  local index = 0
  for entry in string.gmatch(os.getenv("BENCH_TASKS") or "", "[^,]+") do
    local id, current = entry:match("^(%d+):?(%d*)$")
    if id and index % bench.threads == thread_index then
      tail = tail + 1
      free[tail] = id
      pooled[id] = true
      version[id] = tonumber(current) or 1
      fallback = fallback or id
    end
    index = index + 1
  end
end

function request()
  local id
  local request_headers = {}
  for name, value in pairs(headers) do
    request_headers[name] = value
  end
  if head <= tail then
    id = free[head]
    free[head] = nil
    pooled[id] = nil
    head = head + 1
    request_headers["If-Match"] = string.format('"%s-%d"', id, version[id])
  else
    id = fallback
    starved = starved + 1
  end
  local body = string.format('{"status":"%s"}', statuses[version[id] % 3 + 1])
  return wrk.format("PATCH", "/api/v1/tasks/" .. id .. "/", request_headers, body)
end

function response(status, response_headers, body)
  bench.count(status)
  local etag = response_headers["ETag"] or response_headers["Etag"] or response_headers["etag"]
  if status == 200 and etag then
    local id, new_version = etag:match('"(%d+)%-(%d+)"')
    if id and version[id] then
      version[id] = tonumber(new_version)
      if not pooled[id] then
        tail = tail + 1
        free[tail] = id
        pooled[id] = true
      end
    end
  end
end
