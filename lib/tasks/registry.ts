/** The frozen registry of implemented task pipelines. A task without a pipeline is served by no model. */
import type { TaskPipeline } from "./types.ts";
import type { TaskName } from "../request/task-names.ts";
import { sequenceClassification } from "./sequence-classification.ts";
import { embedding } from "./embedding.ts";
import { tokenClassification } from "./token-classification.ts";
import { questionAnswering } from "./question-answering.ts";
import { generation } from "./generation.ts";

/** A new task is a file exporting its pipeline plus one line here. */
export const TASK_PIPELINES: Readonly<Partial<Record<TaskName, TaskPipeline>>> = Object.freeze({
  "sequence-classification": sequenceClassification,
  "token-classification": tokenClassification,
  embedding,
  "question-answering": questionAnswering,
  generation,
});

/** SQuARE's "Queued ..." message words per task (SPEC §4), for every task name, implemented or not. */
export const QUEUED_MESSAGE: Readonly<Record<TaskName, string>> = Object.freeze({
  "sequence-classification": "Queued sequence classification",
  "token-classification": "Queued token classification",
  embedding: "Queued embedding",
  "question-answering": "Queued question answering",
  generation: "Queued generation",
});

export const pipelineFor = (task: TaskName): TaskPipeline | undefined => TASK_PIPELINES[task];

export const isImplemented = (task: TaskName): boolean => TASK_PIPELINES[task] !== undefined;
