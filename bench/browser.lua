-- What a signed-in browser sends, for wrk: `wrk -s bench/browser.lua URL`.
--
-- Settings come from the environment (bench/common.py's run_wrk sets them):
--   BENCH_COOKIES  a file with one Cookie header value per line (a session each; empty: none)
--   BENCH_MIX      comma-separated kinds, cycled in order, e.g. "page,page,heartbeat,status"
--                  heartbeat: POST /_tether/heartbeat as tether.js sends it
--                  page:      GET /page, an ordinary signed-in page load
--                  status:    GET /_tether/status, as tether.js asks it
--   BENCH_HEARTBEAT the heartbeat path (default /_tether/heartbeat)
--   BENCH_ORIGIN   the app's origin, e.g. http://127.0.0.1:8000
-- Each session makes one full cycle of BENCH_MIX before the next session's turn.
-- The requests are built once, in init(); done() prints one line "BENCH_JSON {...}".

local requests = {}
local next_index = 0

local function kinds()
  local out = {}
  for kind in string.gmatch(os.getenv("BENCH_MIX") or "heartbeat", "[^,]+") do
    out[#out + 1] = kind
  end
  return out
end

local function cookies()
  local out = {}
  local path = os.getenv("BENCH_COOKIES")
  if path and path ~= "" then
    for line in io.lines(path) do
      if line ~= "" then out[#out + 1] = line end
    end
  end
  if #out == 0 then out[1] = false end
  return out
end

local function build(kind, cookie)
  local origin = os.getenv("BENCH_ORIGIN")
  local headers = { ["Sec-Fetch-Site"] = "same-origin", ["User-Agent"] = "bench-browser" }
  if cookie then headers["Cookie"] = cookie end
  if kind == "heartbeat" then
    headers["Content-Type"] = "application/json"
    headers["Origin"] = origin
    headers["Sec-Fetch-Mode"] = "cors"
    return wrk.format("POST", os.getenv("BENCH_HEARTBEAT") or "/_tether/heartbeat", headers, "{}")
  elseif kind == "status" then
    headers["Sec-Fetch-Mode"] = "cors"
    return wrk.format("GET", "/_tether/status", headers)
  elseif kind == "page" then
    headers["Accept"] = "text/html"
    headers["Sec-Fetch-Mode"] = "navigate"
    return wrk.format("GET", "/page", headers)
  end
  error("unknown kind in BENCH_MIX: " .. kind)
end

function init(args)
  local mix = kinds()
  for _, cookie in ipairs(cookies()) do
    for _, kind in ipairs(mix) do
      requests[#requests + 1] = build(kind, cookie)
    end
  end
end

function request()
  next_index = next_index % #requests + 1
  return requests[next_index]
end

function done(summary, latency, _)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"p50_us":%d,"p99_us":%d,' ..
    '"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}\n',
    summary.requests, summary.duration, summary.bytes, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
