-- wrk script for bench/inbox.py: replays distinct pre-signed raw HTTP requests.
--
-- Usage: wrk -t1 -c50 -d6s -s bench/inbox.lua URL -- REQUEST_FILE [OFFSET]
-- REQUEST_FILE holds records "<byte length>\n<raw HTTP/1.1 request>" (request line,
-- headers and body, exactly as sent). Requests are sent in order starting at OFFSET and
-- wrap around at the end (counted in "wrapped": replays are duplicates the server dedupes).
-- done() prints one JSON line with status counts and latency percentiles (microseconds).

local reqs = {}
local n = 0
local idx = 0
wrapped = 0
c202 = 0
c2xx = 0
c4xx = 0
c5xx = 0
cother = 0

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  local f = assert(io.open(args[1], "rb"))
  local data = f:read("*a")
  f:close()
  local pos = 1
  local size = #data
  while pos <= size do
    local nl = data:find("\n", pos, true)
    local len = tonumber(data:sub(pos, nl - 1))
    n = n + 1
    reqs[n] = data:sub(nl + 1, nl + len)
    pos = nl + 1 + len
  end
  idx = tonumber(args[2] or "0") or 0
end

function request()
  idx = idx + 1
  if idx > n then
    idx = 1
    wrapped = wrapped + 1
  end
  return reqs[idx]
end

function response(status, headers, body)
  if status == 202 then
    c202 = c202 + 1
  elseif status >= 200 and status < 300 then
    c2xx = c2xx + 1
  elseif status >= 400 and status < 500 then
    c4xx = c4xx + 1
  elseif status >= 500 then
    c5xx = c5xx + 1
  else
    cother = cother + 1
  end
end

function done(summary, latency, requests)
  local t = {c202 = 0, c2xx = 0, c4xx = 0, c5xx = 0, cother = 0, wrapped = 0}
  for _, thread in ipairs(threads) do
    for k, _ in pairs(t) do
      t[k] = t[k] + (thread:get(k) or 0)
    end
  end
  io.write(string.format(
    '\nBENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"c202":%d,"c2xx":%d,' ..
    '"c4xx":%d,"c5xx":%d,"cother":%d,"wrapped":%d,"err_connect":%d,"err_read":%d,' ..
    '"err_write":%d,"err_status":%d,"err_timeout":%d,"p50_us":%d,"p90_us":%d,' ..
    '"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes, t.c202, t.c2xx, t.c4xx, t.c5xx,
    t.cother, t.wrapped, summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.status, summary.errors.timeout, latency:percentile(50),
    latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
