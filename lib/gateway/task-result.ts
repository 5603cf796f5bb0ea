/** `GET /task_result/{id}` answers by task state (SPEC §4). */
import type { TaskRecord } from "../store/task-store.ts";

export function taskResultResponse(id: string, record: TaskRecord | undefined): { status: number; body: Record<string, unknown> } {
  if (!record) return { status: 404, body: { task_id: id, status: "Unknown" } };
  switch (record.state) {
    case "queued":
    case "running":
      return { status: 202, body: { task_id: id, status: "Processing", state: record.state } };
    case "succeeded":
      return { status: 200, body: { task_id: id, status: "Finished", result: record.result } };
    case "failed":
      return { status: 500, body: { task_id: id, status: "Failed", error: record.error ?? { type: "internal", message: "unknown failure" } } };
  }
}
