/** The Jifeline payload shapes (schemas/providers/jifeline/*.avsc) and the check of a body against one. */
import { payloadSchemas } from '../payload-schemas.js';
import { JIFELINE_SCHEMA_OF } from './table.js';

// Envelope: what every event has (read for unmapped types). WebsocketFrame: the frame around a pushed event.
const schemas = payloadSchemas('jifeline', 'Jifeline', JIFELINE_SCHEMA_OF, ['Envelope', 'WebsocketFrame']);

export const JIFELINE_SCHEMA_NAMES = schemas.names;
export const jifelineSchemaJson = schemas.json;
export const checkShape = schemas.check;
export const readShape = schemas.read;
