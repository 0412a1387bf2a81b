-- Rendered by zenmail (stack/templates/rspamd/rspamd.local.lua): its own rules on top of
-- rspamd's stock ones. See docs/filtering.md.

-- A refusal says why, in words the sender's user can act on (rspamd's own texts are terse:
-- "Gtube pattern", "Spam message rejected").
rspamd_config:register_symbol({
  name = 'ZM_REJECT_TEXT',
  type = 'idempotent',
  callback = function(task)
    local action = task:get_metric_action()
    if action ~= 'reject' then return end
    local text
    if task:has_symbol('CLAM_VIRUS') then
      local sym = task:get_symbol('CLAM_VIRUS')
      local names = sym and sym[1] and sym[1].options or {}
      text = 'Message refused: it carries a virus (' .. table.concat(names, ', ') ..
        '); nothing was delivered'
    elseif task:has_symbol('DMARC_POLICY_REJECT') then
      local from = task:get_from('mime')
      local domain = from and from[1] and from[1].domain or 'the sender domain'
      text = 'Message refused: it fails the DMARC policy of ' .. domain ..
        ' (p=reject: not sent by a server that domain authorises, nor DKIM-signed by it)'
    elseif task:has_symbol('GTUBE') then
      text = 'Message refused as spam (it carries the GTUBE test pattern)'
    else
      text = string.format('Message refused as spam (score %.1f); if it is not, ' ..
        'ask the recipient to have it released', task:get_metric_score()[1])
    end
    task:append_message(text, 'smtp_message')
  end,
})

-- ------------------------------------------------------------------------------------------
-- The tenants' anti-phishing rules. Maps written by zenmail from the directory
-- (zenmail.filtering.maps), re-read by rspamd when they change.
local lua_redis = require "lua_redis"
local rspamd_logger = require "rspamd_logger"

local MAPS = '{{ maps_dir }}'
local EXTERNAL_TAG = {{ external_tag }}
local LIMITS = {
  per_hour = {{ messages_per_hour }},
  tenant_per_hour = {{ tenant_messages_per_hour }},
  rcpt_per_message = {{ recipients_per_message }},
  rcpt_per_day = {{ recipients_per_day }},
  suspend_after = {{ suspend_after }},
}
local domains_map = rspamd_config:add_map({type = 'map', url = MAPS .. '/domains.map',
  description = 'zenmail: hosted domain -> tenant'})
local people_map = rspamd_config:add_map({type = 'map', url = MAPS .. '/people.map',
  description = 'zenmail: display names of the tenants people -> tenant'})
local lookalike_map = rspamd_config:add_map({type = 'map', url = MAPS .. '/lookalikes.map',
  description = 'zenmail: look-alikes of hosted domains -> tenant:domain'})
local redis_params = lua_redis.parse_redis_server('zenmail')

-- Symbols whose mail is held in quarantine (Postfix's hold queue) instead of delivered.
local HOLD = {'ZM_IMPERSONATION', 'ZM_LOOKALIKE_DOMAIN', 'ZM_RISKY_ATTACHMENT',
              'ZM_MACRO_DOCUMENT', 'ZM_LINK_MISMATCH'}
-- What the report counts as phishing (the rest of what is refused or junked is spam).
local PHISHING = {'ZM_IMPERSONATION', 'ZM_LOOKALIKE_DOMAIN', 'ZM_RISKY_ATTACHMENT',
                  'ZM_MACRO_DOCUMENT', 'ZM_LINK_MISMATCH', 'PHISHING'}
local RISKY_EXT = {}
for _, e in ipairs({'exe', 'scr', 'com', 'pif', 'bat', 'cmd', 'vbs', 'vbe', 'js', 'jse', 'wsf',
    'wsh', 'hta', 'msi', 'msp', 'jar', 'ps1', 'psm1', 'lnk', 'reg', 'cpl', 'dll', 'iso',
    'img', 'vhd', 'vhdx', 'appx', 'msix', 'scf', 'chm', 'application', 'gadget'}) do
  RISKY_EXT[e] = true
end
local MACRO_EXT = {}
for _, e in ipairs({'docm', 'dotm', 'xlsm', 'xltm', 'xlam', 'pptm', 'potm', 'ppam', 'ppsm',
    'sldm'}) do
  MACRO_EXT[e] = true
end
local DOC_EXT = {pdf = true, doc = true, docx = true, xls = true, xlsx = true, ppt = true,
  pptx = true, txt = true, jpg = true, jpeg = true, png = true, gif = true, zip = true,
  rtf = true, csv = true, html = true, htm = true}

local function norm_name(s)
  s = string.lower(s or '')
  s = s:gsub('[^%w]+', '_'):gsub('^_+', ''):gsub('_+$', '')
  return s
end

local function domain_of(addr)
  if not addr then return nil end
  local d = addr:match('@([^@>]+)$')
  return d and d:lower() or nil
end

-- The tenants the message goes to, and their recipients.
local function rcpt_tenants(task)
  local out = {}
  for _, r in ipairs(task:get_recipients('smtp') or {}) do
    local t = r.domain and domains_map:get_key(r.domain:lower())
    if t then
      out[t] = out[t] or {}
      table.insert(out[t], (r.addr or ''):lower())
    end
  end
  return out
end

local function from_header(task)
  local f = (task:get_from('mime') or {})[1]
  if not f then return nil, nil end
  return f.name or '', (f.domain or ''):lower()
end

local phishing_id = rspamd_config:register_symbol({
  name = 'ZM_PHISHING_CHECKS',
  type = 'callback',
  callback = function(task)
    if task:get_user() then return end  -- our own users' mail: egress rules below
    local tenants = rcpt_tenants(task)
    local name, fdomain = from_header(task)
    local ftenant = fdomain and domains_map:get_key(fdomain)
    -- (a) an outside sender using the name of one of the recipient tenant's people
    if name and name ~= '' then
      local t = people_map:get_key(norm_name(name))
      if t and tenants[t] and ftenant ~= t then
        task:insert_result('ZM_IMPERSONATION', 1.0, name .. ' <' .. (fdomain or '') .. '>')
      end
    end
    -- (b) a sender domain (header, envelope or Reply-To) one slip from a hosted one
    local candidates = {fdomain, domain_of((task:get_from('smtp') or {})[1] and
                                           task:get_from('smtp')[1].addr)}
    local rt = task:get_header('Reply-To')
    if rt then table.insert(candidates, domain_of(rt:match('<([^>]+)>') or rt)) end
    for _, d in ipairs(candidates) do
      local hit = d and d ~= '' and lookalike_map:get_key(d)
      if hit then
        task:insert_result('ZM_LOOKALIKE_DOMAIN', 1.0, d .. ' looks like ' .. hit)
        break
      end
    end
    -- (c) links: shown text vs target, IP addresses, punycode or non-ASCII hosts
    for _, u in ipairs(task:get_urls() or {}) do
      local host = (u:get_host() or ''):lower()
      if u:is_phished() then
        local shown = u:get_phished()
        task:insert_result('ZM_LINK_MISMATCH', 1.0,
          (shown and shown:get_host() or '?') .. ' -> ' .. host)
      end
      if host:match('^%d+%.%d+%.%d+%.%d+$') or host:match('^%[') or host:match('^[%x:]+:[%x:]+$') then
        task:insert_result('ZM_LINK_IP', 1.0, host)
      end
      if host:find('xn--', 1, true) or host:find('[\128-\255]') then
        task:insert_result('ZM_LINK_PUNYCODE', 1.0, host)
      end
    end
    -- (e) the optional tag: mail to a tenant from outside it
    if EXTERNAL_TAG and next(tenants) and not (ftenant and tenants[ftenant]) then
      task:insert_result('ZM_EXTERNAL', 1.0)
    end
  end,
})

-- (d) risky attachments: executables, double extensions, Office macros, inside archives too
local function check_name(task, fname)
  local lower = fname:lower()
  local ext = lower:match('%.([%w]+)$')
  if not ext then return end
  if RISKY_EXT[ext] then
    local prev = lower:match('%.([%w]+)%.[%w]+$')
    if prev and DOC_EXT[prev] then
      task:insert_result('ZM_RISKY_ATTACHMENT', 1.0, 'double extension: ' .. fname)
    else
      task:insert_result('ZM_RISKY_ATTACHMENT', 1.0, fname)
    end
  elseif MACRO_EXT[ext] then
    task:insert_result('ZM_MACRO_DOCUMENT', 1.0, fname)
  end
end

local attachment_id = rspamd_config:register_symbol({
  name = 'ZM_ATTACHMENT_CHECKS',
  type = 'callback',
  callback = function(task)
    for _, p in ipairs(task:get_parts() or {}) do
      local fname = p:get_filename()
      if fname then check_name(task, fname) end
      if p:is_archive() then
        local arch = p:get_archive()
        for _, f in ipairs(arch:get_files() or {}) do
          local n = type(f) == 'table' and f.name or f
          if type(n) == 'string' then check_name(task, n) end
        end
      end
      if fname and p:get_length() < 20 * 1024 * 1024 then
        local content = tostring(p:get_content())
        -- OOXML with a VBA project (a .docx renamed from .docm too), and OLE2 documents
        -- (.doc, .xls) whose directory names a VBA project stream.
        if content:sub(1, 4) == 'PK\3\4' and content:find('vbaProject.bin', 1, true) then
          task:insert_result('ZM_MACRO_DOCUMENT', 1.0, fname)
        elseif content:sub(1, 4) == '\208\207\17\224' and
               (content:find('_\0V\0B\0A\0_\0P\0R\0O\0J\0E\0C\0T\0', 1, true) or
                content:find('V\0B\0A\0\0\0', 1, true)) then
          task:insert_result('ZM_MACRO_DOCUMENT', 1.0, fname)
        end
      end
    end
  end,
})

local SYMBOLS = {
  ZM_IMPERSONATION = {8.0, 'an outside sender uses the name of one of the tenant\'s people'},
  ZM_LOOKALIKE_DOMAIN = {8.0, 'the sender\'s domain looks like one of the tenant\'s'},
  ZM_LINK_MISMATCH = {6.0, 'a link shows one domain and leads to another'},
  ZM_LINK_IP = {3.0, 'a link to a bare IP address'},
  ZM_LINK_PUNYCODE = {3.0, 'a link to a punycode or non-ASCII host'},
  ZM_EXTERNAL = {0.0, 'from outside the recipient\'s organisation'},
  ZM_RISKY_ATTACHMENT = {8.0, 'an executable attachment, a double extension, or one in an archive'},
  ZM_MACRO_DOCUMENT = {8.0, 'an Office document with macros'},
}
for sym, def in pairs(SYMBOLS) do
  local parent = (sym == 'ZM_RISKY_ATTACHMENT' or sym == 'ZM_MACRO_DOCUMENT')
                 and attachment_id or phishing_id
  rspamd_config:register_symbol({name = sym, type = 'virtual', parent = parent})
  rspamd_config:set_metric_symbol({name = sym, score = def[1], description = def[2],
                                   group = 'zenmail'})
end

-- ------------------------------------------------------------------------------------------
-- Quarantine: mail with a phishing sign (not refused outright) is held in Postfix's hold
-- queue, where the tenant's administrator releases or deletes it (`zenmail quarantine`).
rspamd_config:register_symbol({
  name = 'ZM_QUARANTINE',
  type = 'postfilter',
  priority = 5,
  callback = function(task)
    if task:get_user() then return end
    local action = task:get_metric_action()
    if action == 'reject' or action == 'soft reject' then return end
    for _, sym in ipairs(HOLD) do
      if task:has_symbol(sym) then
        task:set_pre_result('quarantine', 'held for review by the administrator: ' .. sym,
                            'zenmail')
        return
      end
    end
    if EXTERNAL_TAG and task:has_symbol('ZM_EXTERNAL') then
      local subject = task:get_header('Subject') or ''
      if not subject:find('[EXTERNAL]', 1, true) then
        task:set_milter_reply({remove_headers = {Subject = 1},
                               add_headers = {Subject = '[EXTERNAL] ' .. subject}})
      end
    end
  end,
})

-- ------------------------------------------------------------------------------------------
-- Counters for the security report (zenmail.filtering.report) and the egress limits, in the
-- stack's Redis. Keys: zm:st:<tenant>:<YYYYMMDD> (hash: spam, virus, phishing, held,
-- outbound, outbound_refused), zm:tg:<tenant>:<YYYYMMDD> (sorted set: recipients targeted).
local DAY = 86400
local function redis(task, key, cmd, args, cb)
  if not redis_params then return end
  lua_redis.redis_make_request(task, redis_params, key, true,
    cb or function(err) if err then rspamd_logger.errx(task, 'zenmail redis: %s', err) end end,
    cmd, args)
end

local function today() return os.date('!%Y%m%d') end
local function this_hour() return os.date('!%Y%m%d%H') end

local function has_any(task, list)
  for _, s in ipairs(list) do if task:has_symbol(s) then return s end end
  return nil
end

-- One refused outbound message of `user`: counted, and `suspend_after` of them within the
-- hour suspend its sending (a burst of spam from a stolen password, a runaway script).
local function strike(task, user, tenant, why)
  local st = 'zm:st:' .. tenant .. ':' .. today()
  redis(task, st, 'HINCRBY', {st, 'outbound_refused', '1'})
  redis(task, st, 'EXPIRE', {st, tostring(400 * DAY)})
  local strikes = 'zm:eg:s:' .. user .. ':' .. this_hour()
  redis(task, strikes, 'INCR', {strikes}, function(err, n)
    if err then return end
    redis(task, strikes, 'EXPIRE', {strikes, '3600'})
    if tonumber(n) and tonumber(n) >= LIMITS.suspend_after then
      local reason = string.format('%d outbound messages refused within the hour (last: %s)',
                                   n, why)
      redis(task, 'zm:susp:' .. user, 'SET', {'zm:susp:' .. user,
        string.format('%s|%s|%s', os.time(), tenant, reason), 'NX'}, function(e, ok)
          if not e and ok then
            redis(task, 'zm:events', 'LPUSH', {'zm:events', string.format(
              '{"time": %d, "event": "sending_suspended", "account": "%s", ' ..
              '"tenant": "%s", "reason": "%s"}', os.time(), user, tenant, reason)})
            redis(task, 'zm:events', 'LTRIM', {'zm:events', '0', '9999'})
          end
        end)
    end
  end)
end

-- Egress: limits per account and per tenant on authenticated mail, checked before scanning.
rspamd_config:register_symbol({
  name = 'ZM_EGRESS_LIMITS',
  type = 'prefilter',
  priority = 10,
  callback = function(task)
    local user = task:get_user()
    if not user or not redis_params then return end
    user = user:lower()
    local tenant = domains_map:get_key(domain_of(user) or '') or '-'
    local nrcpt = #(task:get_recipients('smtp') or {})
    if nrcpt > LIMITS.rcpt_per_message then
      task:set_pre_result('reject', string.format('One message may go to at most %d ' ..
        'recipients; split the list or ask your administrator', LIMITS.rcpt_per_message),
        'zenmail')
      return
    end
    local keys = {'zm:susp:' .. user, 'zm:eg:u:' .. user .. ':' .. this_hour(),
                  'zm:eg:t:' .. tenant .. ':' .. this_hour(),
                  'zm:eg:r:' .. user .. ':' .. today()}
    redis(task, keys[1], 'MGET', keys, function(err, data)
      if err or type(data) ~= 'table' then return end
      local function n(i) return tonumber(data[i]) or 0 end
      local refusal
      if data[1] and type(data[1]) == 'string' then
        task:set_pre_result('reject', 'Sending from ' .. user .. ' is suspended after ' ..
          'unusual outbound mail; ask your administrator to check the account and run ' ..
          '`zenmail account unlock ' .. user .. '`', 'zenmail')
        return
      elseif n(2) >= LIMITS.per_hour then
        refusal = string.format('%s has sent %d messages this hour, its limit; try ' ..
          'again later', user, n(2))
      elseif n(3) >= LIMITS.tenant_per_hour then
        refusal = string.format('Your organisation has sent %d messages this hour, ' ..
          'its limit; try again later', n(3))
      elseif n(4) + nrcpt > LIMITS.rcpt_per_day then
        refusal = string.format('%s has written to %d recipients today, its limit ' ..
          'is %d; try again tomorrow', user, n(4), LIMITS.rcpt_per_day)
      end
      if refusal then
        task:set_pre_result('soft reject', refusal, 'zenmail')
        strike(task, user, tenant, 'over a limit')
      end
    end)
  end,
})

rspamd_config:register_symbol({
  name = 'ZM_COUNTERS',
  type = 'idempotent',
  callback = function(task)
    if not redis_params then return end
    local action = task:get_metric_action()
    local user = task:get_user()
    if user then
      user = user:lower()
      local tenant = domains_map:get_key(domain_of(user) or '') or '-'
      local st = 'zm:st:' .. tenant .. ':' .. today()
      local refused = action == 'reject'
      if refused then
        strike(task, user, tenant, action)
      else
        local ku = 'zm:eg:u:' .. user .. ':' .. this_hour()
        local kt = 'zm:eg:t:' .. tenant .. ':' .. this_hour()
        local kr = 'zm:eg:r:' .. user .. ':' .. today()
        local nrcpt = #(task:get_recipients('smtp') or {})
        redis(task, ku, 'INCR', {ku}); redis(task, ku, 'EXPIRE', {ku, '3600'})
        redis(task, kt, 'INCR', {kt}); redis(task, kt, 'EXPIRE', {kt, '3600'})
        redis(task, kr, 'INCRBY', {kr, tostring(nrcpt)}); redis(task, kr, 'EXPIRE', {kr, tostring(DAY)})
        redis(task, st, 'HINCRBY', {st, 'outbound', '1'})
      end
      redis(task, st, 'EXPIRE', {st, tostring(400 * DAY)})
      return
    end
    local what
    if task:has_symbol('CLAM_VIRUS') then
      what = 'virus'
    elseif action == 'quarantine' or has_any(task, PHISHING) then
      what = 'phishing'
    elseif action == 'reject' or action == 'add header' or action == 'rewrite subject' then
      what = 'spam'
    end
    if not what then return end
    for tenant, rcpts in pairs(rcpt_tenants(task)) do
      local st = 'zm:st:' .. tenant .. ':' .. today()
      local tg = 'zm:tg:' .. tenant .. ':' .. today()
      redis(task, st, 'HINCRBY', {st, what, '1'})
      if action == 'quarantine' then redis(task, st, 'HINCRBY', {st, 'held', '1'}) end
      redis(task, st, 'EXPIRE', {st, tostring(400 * DAY)})
      for _, r in ipairs(rcpts) do redis(task, tg, 'ZINCRBY', {tg, '1', r}) end
      redis(task, tg, 'EXPIRE', {tg, tostring(400 * DAY)})
    end
  end,
})
