-- Argo CD health for ymera.io Restore (ymera-operator). One-shot: Progressing
-- while it waits or runs, Healthy once it succeeded, Degraded when it failed
-- or waits on a change only a person can make.
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
