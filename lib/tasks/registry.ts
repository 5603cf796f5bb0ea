/** The frozen registry of implemented task pipelines. A task without a pipeline is served by no model. */
import type { TaskPipeline } from "./types.ts";
import type { TaskName } from "./task-names.ts";
import { sequenceClassification } from "./sequence-classification.ts";
import { embedding } from "./embedding.ts";
import { tokenClassification } from "./token-classification.ts";
import { questionAnswering } from "./question-answering.ts";

export const TASK_PIPELINES: Readonly<Partial<Record<TaskName, TaskPipeline>>> = Object.freeze({
  "sequence-classification": sequenceClassification,
  "token-classification": tokenClassification,
  embedding,
  "question-answering": questionAnswering,
});

export const pipelineFor = (task: TaskName): TaskPipeline | undefined => TASK_PIPELINES[task];

export const isImplemented = (task: TaskName): boolean => TASK_PIPELINES[task] !== undefined;
