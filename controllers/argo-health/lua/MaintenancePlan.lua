-- Argo CD health for ymera.io MaintenancePlan (ymera-operator). Long-running:
-- Healthy while it predicts (and acts), whatever the maintenance phase;
-- Degraded when stalled or a node is left cordoned after a failed
-- maintenance; Suspended when spec.suspend stops new maintenance.
local leftCordoned = condition("NodesLeftCordoned")
if isTrue(leftCordoned) then
  return { status = "Degraded", message = text(leftCordoned) }
end
if suspended() then
  return { status = "Suspended", message = "spec.suspend: no new maintenance starts; " .. text(ready) }
end
if isTrue(ready) then
  return { status = "Healthy", message = text(ready) }
end
if isTrue(reconciling) then
  return { status = "Progressing", message = text(reconciling) }
end
-- never Progressing for good: Ready False without work under way needs a look
return { status = "Degraded", message = text(ready) }
