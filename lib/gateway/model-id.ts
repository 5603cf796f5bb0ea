/** Model ids in routes (kept at this path for services/api.service.ts; the rules live in lib/request). */
export { modelIdFromRoute, checkModelId } from "../request/model-id.ts";
