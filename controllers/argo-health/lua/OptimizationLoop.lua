-- Argo CD health for ymera.io OptimizationLoop (ymera-operator). Long-running:
-- Healthy while Ready (running or converged), Degraded when stalled,
-- Suspended when spec.suspend pauses the loop.
if suspended() then
  return { status = "Suspended", message = "spec.suspend: the loop is paused; " .. text(ready) }
end
if isTrue(ready) or obj.status.phase == "Converged" then
  return { status = "Healthy", message = text(ready) }
end
if isTrue(reconciling) then
  return { status = "Progressing", message = text(reconciling) }
end
-- never Progressing for good: Ready False without work under way needs a look
return { status = "Degraded", message = text(ready) }
