-- bench/lib/wrk-report.lua: make wrk print one machine-readable line
-- ("LOADJSON {...}") instead of its human summary being parsed, and optionally
-- count non-2xx exactly. Configured by environment (set by bench/lib/load.ts):
--   WRK_METHOD=GET|POST, WRK_BODY_BYTES=N, WRK_EXACT_STATUS=0|1
-- wrk's own summary counts only status > 399 as errors; the response() hook
-- below counts every non-2xx, at the price of a Lua call per response, so it
-- is enabled only where errors are the point (the switch-under-load run).

local method = os.getenv("WRK_METHOD") or "GET"
local body_bytes = tonumber(os.getenv("WRK_BODY_BYTES") or "0") or 0
wrk.method = method
if method == "POST" and body_bytes > 0 then
  wrk.body = string.rep("x", body_bytes)
  wrk.headers["Content-Type"] = "application/octet-stream"
end

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

local exact = os.getenv("WRK_EXACT_STATUS") == "1"
if exact then
  non2xx = 0
  function response(status, headers, body)
    if status < 200 or status > 299 then
      non2xx = non2xx + 1
    end
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  local non2xx_total = e.status
  if exact then
    non2xx_total = 0
    for _, t in ipairs(threads) do
      non2xx_total = non2xx_total + (t:get("non2xx") or 0)
    end
  end
  local secs = summary.duration / 1e6
  io.write(string.format(
    'LOADJSON {"requests":%d,"durationS":%.3f,"rps":%.1f,"p50Ms":%.3f,"p90Ms":%.3f,"p99Ms":%.3f,"maxMs":%.3f,"non2xx":%d,"socketErrors":%d,"bytes":%d}\n',
    summary.requests, secs, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    non2xx_total, e.connect + e.read + e.write + e.timeout, summary.bytes))
end
