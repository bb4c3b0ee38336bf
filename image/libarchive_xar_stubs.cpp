// libarchive is linked statically (image/CMakeLists.txt) so that `hvrun run`
// does not pay the dynamic loader for it and its dependency tree (libxml2,
// libicu, ...). Its format table drags in the xar *writer*, whose XML output
// needs libxml2's text writer. We never write xar (only pax tar), so these
// stand-ins only satisfy the linker: each one fails, and a xar writer, were
// one ever asked for, would report an error instead of producing output.
// The xar *reader* is not linked at all (we enable only tar and raw).
extern "C" {
void* xmlBufferCreate() { return nullptr; }
void xmlBufferFree(void*) {}
void* xmlNewTextWriterMemory(void*, int) { return nullptr; }
void xmlFreeTextWriter(void*) {}
int xmlTextWriterSetIndent(void*, int) { return -1; }
int xmlTextWriterStartDocument(void*, const char*, const char*, const char*) { return -1; }
int xmlTextWriterEndDocument(void*) { return -1; }
int xmlTextWriterStartElement(void*, const unsigned char*) { return -1; }
int xmlTextWriterEndElement(void*) { return -1; }
int xmlTextWriterWriteAttribute(void*, const unsigned char*, const unsigned char*) { return -1; }
int xmlTextWriterWriteFormatAttribute(void*, const unsigned char*, const char*, ...) { return -1; }
int xmlTextWriterWriteString(void*, const unsigned char*) { return -1; }
int xmlTextWriterWriteBase64(void*, const char*, int, int) { return -1; }
int UTF8Toisolat1(unsigned char*, int*, const unsigned char*, int*) { return -1; }
}
