-- POST /api/v1/tasks/{id}/comments/: a comment mentioning a member of the task's
-- project, on one of BENCH_IDS (comma-separated task ids) at random.
--
-- BENCH_MENTION  the username the body mentions (`@name`).
dofile(debug.getinfo(1, "S").source:sub(2):match("^(.*/)") .. "common.lua")

local headers = {}
for name, value in pairs(bench.headers) do
  headers[name] = value
end
headers["Content-Type"] = "application/json"

local tasks = {}
for id in string.gmatch(os.getenv("BENCH_IDS") or "", "[^,]+") do
  table.insert(tasks, id)
end
local mention = os.getenv("BENCH_MENTION") or ""
local counter = 0

function init(args)
  math.randomseed(os.time() * 100 + thread_index)
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"body":"Looked at this one (bench %d-%d): @%s, could you check the figures?"}',
    thread_index, counter, mention
  )
  local path = "/api/v1/tasks/" .. tasks[math.random(#tasks)] .. "/comments/"
  return wrk.format("POST", path, headers, body)
end

function response(status, response_headers, body)
  bench.count(status)
end
