-- Argo CD health for ymera.io InferenceService (ymera-operator). Converges:
-- Healthy once Ready (the stable revision serves), Progressing while pods
-- come up or a canary runs, Degraded when stalled (failed pods, a rollback
-- that needs a spec change).
if isTrue(ready) then
  return { status = "Healthy", message = text(ready) }
end
if obj.status.phase == "Failed" then
  return { status = "Degraded", message = text(ready) }
end
if isTrue(reconciling) then
  return { status = "Progressing", message = text(reconciling) }
end
return { status = "Progressing", message = text(ready) }
