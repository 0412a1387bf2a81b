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
      return -- the antivirus module's own text names the virus
    elseif task:has_symbol('GTUBE') then
      text = '5.7.1 Message refused as spam (it carries the GTUBE test pattern)'
    else
      text = string.format('5.7.1 Message refused as spam (score %.1f); if it is not, ' ..
        'ask the recipient to have it released', task:get_metric_score()[1])
    end
    task:append_message(text, 'smtp_message')
  end,
})
