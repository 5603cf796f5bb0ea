/** The gateway's view of the task names (kept at this path for services/api.service.ts). */
export { TASK_NAMES, type TaskName } from "../request/task-names.ts";
export { QUEUED_MESSAGE } from "./registry.ts";
