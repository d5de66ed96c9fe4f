-- wrk script: every request creates a new ConfigMap (unique name per process and request).
-- Env: TOKEN (bearer token), PREFIX (unique per wrk process).
local counter = 0
local prefix = os.getenv("PREFIX") or "w"
local token = os.getenv("TOKEN") or ""
request = function()
  counter = counter + 1
  local body = '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"' .. prefix .. '-' .. counter ..
               '"},"data":{"k":"vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv"}}'
  return wrk.format("POST", "/api/v1/namespaces/default/configmaps",
                    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}, body)
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT requests=%d failed=%d p50_us=%d p99_us=%d\n", summary.requests,
           summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write +
           summary.errors.timeout, latency:percentile(50), latency:percentile(99)))
end
