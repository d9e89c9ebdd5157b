-- SPDX-License-Identifier: Apache-2.0
-- wrk script of bench/tokens.sh: POST /v1/tokens, each request with the next
-- pre-made JWE from $BENCH_JWE_FILE (never the same one twice: a repeat would
-- be a cheap 400 replay), counting answers by status. One wrk thread.
local jwes, n, i = {}, 0, 0
local pk = os.getenv("BENCH_PK")
created, other, exhausted = 0, 0, 0 -- globals: done() reads them with thread:get

function init(args)
	for line in io.lines(os.getenv("BENCH_JWE_FILE")) do
		n = n + 1
		jwes[n] = line
	end
end

function request()
	i = i + 1
	if i > n then
		exhausted = exhausted + 1
		i = 1
	end
	return wrk.format("POST", "/v1/tokens", {
		["Authorization"] = "Bearer " .. pk,
		["Content-Type"] = "application/jose",
	}, jwes[i])
end

function response(status, headers, body)
	if status == 201 then
		created = created + 1
	else
		other = other + 1
		if other <= 3 then io.stderr:write("tokens.lua: status " .. status .. " " .. body .. "\n") end
	end
end

local threads = {}
function setup(thread) table.insert(threads, thread) end

function done(summary, latency, requests)
	local c, o, e = 0, 0, 0
	for _, t in ipairs(threads) do
		c = c + t:get("created")
		o = o + t:get("other")
		e = e + t:get("exhausted")
	end
	io.write(string.format("TOKENS created=%d other=%d exhausted=%d\n", c, o, e))
end
