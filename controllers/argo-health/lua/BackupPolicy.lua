-- Argo CD health for ymera.io BackupPolicy (ymera-operator). Long-running:
-- Healthy while backups are scheduled and the latest one completed (also
-- while one runs), Degraded when the latest backup or drill failed or it is
-- stalled, Suspended when spec.suspend stops scheduled backups.
if obj.status.phase == "Degraded" then
  -- the condition that made it so: a failed backup (Ready), one missing model files (BackupHealthy), a failed drill
  if isFalse(ready) then
    return { status = "Degraded", message = text(ready) }
  end
  local backup = condition("BackupHealthy")
  if isFalse(backup) then
    return { status = "Degraded", message = text(backup) }
  end
  return { status = "Degraded", message = text(condition("DrillPassed")) }
end
if suspended() or obj.status.phase == "Suspended" then
  return { status = "Suspended", message = text(ready) }
end
if isTrue(ready) then
  return { status = "Healthy", message = text(ready) }
end
if isTrue(reconciling) then
  return { status = "Progressing", message = text(reconciling) }
end
-- never Progressing for good: Ready False without work under way needs a look
return { status = "Degraded", message = text(ready) }
