-- POST /api/v1/tasks/: every request creates a new task owned by the token's user.
dofile(debug.getinfo(1, "S").source:sub(2):match("^(.*/)") .. "common.lua")

local priorities = { "low", "medium", "high" }
local headers = {}
for name, value in pairs(bench.headers) do
  headers[name] = value
end
headers["Content-Type"] = "application/json"

local counter = 0

function request()
  counter = counter + 1
  local body = string.format(
    '{"title":"bench %d-%d","description":"Created by bench/wrk/create.lua.","priority":"%s"}',
    thread_index, counter, priorities[counter % 3 + 1]
  )
  return wrk.format("POST", "/api/v1/tasks/", headers, body)
end

function response(status, headers, body)
  bench.count(status)
end
