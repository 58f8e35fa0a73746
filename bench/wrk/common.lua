-- Loaded by the other scripts here (dofile): the bearer token, one state per wrk
-- thread, status counting for the write scenarios, and the figures as one JSON line
-- ("BENCH_JSON {...}") on stdout, which bench/run.py reads.
--
-- Environment: BENCH_TOKEN (access token; none for the baseline), BENCH_THREADS
-- (wrk's -t, for scripts that split work between threads).

local token = os.getenv("BENCH_TOKEN") or ""

bench = {
  headers = { ["Accept"] = "application/json" },
  threads = tonumber(os.getenv("BENCH_THREADS") or "1"),
}
if token ~= "" then
  bench.headers["Authorization"] = "Bearer " .. token
end

-- Main state: the threads, so done() can read their counters.
local all_threads = {}

function setup(thread)
  thread:set("thread_index", #all_threads)
  table.insert(all_threads, thread)
end

-- Thread state: responses by class. Only scripts that define response() (writes)
-- fill them; wrk itself counts every status >= 400 in errors.status.
ok_2xx, other_status, starved = 0, 0, 0

function bench.count(status)
  if status >= 200 and status < 300 then
    ok_2xx = ok_2xx + 1
  else
    other_status = other_status + 1
  end
end

local function encode(value)
  local kind = type(value)
  if kind == "table" then
    local parts = {}
    for key, item in pairs(value) do
      table.insert(parts, string.format("%q:%s", tostring(key), encode(item)))
    end
    return "{" .. table.concat(parts, ",") .. "}"
  elseif kind == "number" then
    return string.format("%.17g", value)
  elseif kind == "boolean" then
    return tostring(value)
  elseif value == nil then
    return "null"
  end
  return string.format("%q", tostring(value))
end

function done(summary, latency, requests)
  local counted = { ok_2xx = 0, other_status = 0, starved = 0 }
  for _, thread in ipairs(all_threads) do
    for name, _ in pairs(counted) do
      counted[name] = counted[name] + (thread:get(name) or 0)
    end
  end
  local report = {
    requests = summary.requests,
    duration_us = summary.duration,
    bytes = summary.bytes,
    errors = {
      connect = summary.errors.connect,
      read = summary.errors.read,
      write = summary.errors.write,
      status = summary.errors.status,
      timeout = summary.errors.timeout,
    },
    latency_us = {
      p50 = latency:percentile(50),
      p90 = latency:percentile(90),
      p95 = latency:percentile(95),
      p99 = latency:percentile(99),
      p999 = latency:percentile(99.9),
      min = latency.min,
      max = latency.max,
      mean = latency.mean,
    },
    counted = counted,
    counts_responses = response ~= nil,
  }
  io.write("BENCH_JSON " .. encode(report) .. "\n")
end
