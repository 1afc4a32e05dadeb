#include "canopy/rows.h"

namespace canopy {

const char* NamespaceTypeName(NamespaceType type) {
  switch (type) {
    case NamespaceType::kGroup:
      return "Group";
    case NamespaceType::kProject:
      return "Project";
    case NamespaceType::kUser:
      break;
  }
  return "User";
}

NamespaceType NamespaceTypeFromName(std::string_view name) {
  if (name == "Group") return NamespaceType::kGroup;
  if (name == "Project") return NamespaceType::kProject;
  return NamespaceType::kUser;
}

}  // namespace canopy
