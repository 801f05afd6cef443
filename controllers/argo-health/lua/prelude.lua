-- Conditions follow kstatus: Ready summarises, Stalled=True needs a change by
-- a person, Reconciling=True is work under way. Only the base and table
-- libraries are loaded (argocd-cm scripts run without the others).
local function condition(t)
  if obj.status.conditions == nil then
    return nil
  end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == t then
      return c
    end
  end
  return nil
end
local function isTrue(c)
  return c ~= nil and c.status == "True"
end
local function isFalse(c)
  return c ~= nil and c.status == "False"
end
local function text(c)
  if c == nil then
    return ""
  end
  if c.message ~= nil and c.message ~= "" then
    return c.message
  end
  return c.reason or ""
end
local function suspended()
  return obj.spec ~= nil and obj.spec.suspend == true
end

if obj.status == nil or obj.status.observedGeneration == nil then
  return { status = "Progressing", message = "Waiting for the operator to report status" }
end
-- tostring: numbers may arrive as integers or floats depending on the decoder
if obj.metadata.generation ~= nil and tostring(obj.status.observedGeneration) ~= tostring(obj.metadata.generation) then
  return {
    status = "Progressing",
    message = "Waiting for the operator to observe generation " .. tostring(obj.metadata.generation),
  }
end

local ready = condition("Ready")
local stalled = condition("Stalled")
local reconciling = condition("Reconciling")
if isTrue(stalled) then
  return { status = "Degraded", message = text(stalled) }
end

