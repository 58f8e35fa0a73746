-- GET requests: the task list, a task, statistics, the baseline.
--
-- BENCH_PATHS   comma-separated paths; each request takes one at random (task detail
--               spreads over the user's tasks). One path: wrk sends it as is.
-- BENCH_BUST=1  gives every request a unique port in its Host header (a unique
--               absolute URL, the per-user list cache's key), so the cache never
--               answers and the database is asked every time. Not a query
--               parameter: the API refuses one it does not declare.
-- BENCH_PACE_MS each connection waits this long after a response before its next
--               request (the first wait is random in [0, pace] to spread them):
--               300 connections at 2000 ms offer about 150 requests/s.
dofile(debug.getinfo(1, "S").source:sub(2):match("^(.*/)") .. "common.lua")

local paths = {}
for path in string.gmatch(os.getenv("BENCH_PATHS") or "/", "[^,]+") do
  table.insert(paths, path)
end
local bust = os.getenv("BENCH_BUST") == "1"
local pace_ms = tonumber(os.getenv("BENCH_PACE_MS") or "0")

wrk.method = "GET"
wrk.path = paths[1]
wrk.headers = bench.headers

function init(args)
  math.randomseed(os.time() * 100 + thread_index)
end

if #paths > 1 or bust then
  local counter = 0
  local host = wrk.host
  local headers = {}
  for name, value in pairs(bench.headers) do
    headers[name] = value
  end
  function request()
    local path = paths[math.random(#paths)]
    if bust then
      -- Django checks the host against ALLOWED_HOSTS without its port.
      counter = counter + 1
      headers["Host"] = string.format("%s:%d%d%d", host, os.time(), thread_index, counter)
      return wrk.format(nil, path, headers)
    end
    return wrk.format(nil, path)
  end
end

if pace_ms > 0 then
  local first = true
  function delay()
    if first then
      first = false
      return math.random(0, pace_ms)
    end
    return pace_ms
  end
end
