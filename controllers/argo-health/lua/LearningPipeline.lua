-- Argo CD health for ymera.io LearningPipeline (ymera-operator). Healthy
-- while it can run and its latest run did not fail (idle, running or
-- succeeded), Degraded when the latest run failed or it is stalled,
-- Suspended when spec.suspend stops new runs.
if isFalse(ready) and ready.reason == "RunFailed" then
  return { status = "Degraded", message = text(ready) }
end
if suspended() then
  return { status = "Suspended", message = "spec.suspend: no new runs start; " .. text(ready) }
end
if isTrue(ready) then
  return { status = "Healthy", message = text(ready) }
end
if isTrue(reconciling) then
  return { status = "Progressing", message = text(reconciling) }
end
return { status = "Progressing", message = text(ready) }
