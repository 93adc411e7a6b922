package redisstore

import (
	"errors"

	"github.com/redis/go-redis/v9"
)

// Lua helpers shared by the scripts. Redis runs Lua 5.1, whose numbers
// are doubles: exact for millisecond times, not for every int64, so TOTP
// steps are compared as decimal strings.

// luaCmpInt compares two canonical decimal int64 strings: -1, 0 or 1.
const luaCmpInt = `
local function cmpint(a, b)
  local na, nb = string.sub(a, 1, 1) == '-', string.sub(b, 1, 1) == '-'
  if na ~= nb then
    if na then return -1 end
    return 1
  end
  local x, y = a, b
  if na then x, y = string.sub(b, 2), string.sub(a, 2) end
  if #x ~= #y then
    if #x < #y then return -1 end
    return 1
  end
  if x == y then return 0 end
  if x < y then return -1 end
  return 1
end
`

// luaExpireNoSooner makes key live at least until at (Unix ms) without
// ever shortening it, for keys that hold several records: the key goes
// when its last record does.
const luaExpireNoSooner = `
local function expire_no_sooner(key, at)
  local ttl = redis.call('PTTL', key)
  if ttl == -1 then
    redis.call('PEXPIREAT', key, at)
    return
  end
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  if now + ttl < at then redis.call('PEXPIREAT', key, at) end
end
`

// luaFmt writes a Lua number as an integer, never in exponent form.
const luaFmt = `
local function fmt(n) return string.format('%.0f', n) end
`

// script compiles a script from helpers and a body. go-redis runs it with
// EVALSHA and loads it on the first NOSCRIPT.
func script(parts ...string) *redis.Script {
	src := ""
	for _, p := range parts {
		src += p
	}
	return redis.NewScript(src)
}

// noScript reports a script's EVALSHA in a pipeline refused because the
// server does not have it cached (after a restart or failover); the caller
// runs it again with Script.Run, which loads it.
func noScript(err error) bool {
	return errors.Is(err, redis.ErrNoScript) || redis.HasErrorPrefix(err, "NOSCRIPT")
}
